package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// The OpenAPI v3 documents kubectl reads for `explain`, and to learn that the
// server validates fields itself (fieldValidation) and which patch types each
// resource takes. Schemas come from the Go types by reflection and their
// descriptions from the API packages' doc comments, so neither can drift.

// jsonObj is one node of an OpenAPI document.
type jsonObj = map[string]any

// openAPIDoc is the built document of one group version, with its hash.
type openAPIDoc struct {
	body []byte
	hash string
}

// registerOpenAPI serves /openapi/v3 (the index) and one document per group version.
func registerOpenAPI(e *echo.Echo, groups []apiGroup) {
	docs := map[string]openAPIDoc{}
	index := jsonObj{}
	descs := parseDocs(configapi.Source, pkgapi.Source)
	for _, g := range groups {
		b := &schemaBuilder{docs: descs, schemas: jsonObj{}}
		paths := jsonObj{}
		for _, r := range g.resources {
			r.openAPI(b, paths)
		}
		doc := jsonObj{
			"openapi":    "3.0.0",
			"info":       jsonObj{"title": "pkgserver", "version": g.version},
			"paths":      paths,
			"components": jsonObj{"schemas": b.schemas},
		}
		body, err := json.Marshal(doc)
		if err != nil {
			panic(err) // plain maps and strings
		}
		sum := sha256.Sum256(body)
		key := "apis/" + g.name + "/" + g.version
		docs[key] = openAPIDoc{body: body, hash: strings.ToUpper(hex.EncodeToString(sum[:]))}
		index[key] = jsonObj{"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + docs[key].hash}
	}
	e.GET("/openapi/v3", func(c echo.Context) error {
		return c.JSON(http.StatusOK, jsonObj{"paths": index})
	})
	e.GET("/openapi/v3/apis/:group/:version", func(c echo.Context) error {
		d, ok := docs["apis/"+c.Param("group")+"/"+c.Param("version")]
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound, "no OpenAPI document for this group version")
		}
		c.Response().Header().Set("ETag", `"`+d.hash+`"`)
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, d.body)
	})
}

// fieldDocs maps a type name to its doc ("" key) and its fields' docs by JSON
// name; "+" and the JSON name holds a field's +listType and +listMapKey markers.
type fieldDocs map[string]map[string]string

// parseDocs reads the doc comments of Go source files.
func parseDocs(sources ...string) fieldDocs {
	out := fieldDocs{}
	for _, src := range sources {
		f, err := parser.ParseFile(token.NewFileSet(), "types.go", src, parser.ParseComments)
		if err != nil {
			panic(err) // the embedded source compiled, so it parses
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				m := map[string]string{"": docText(ts.Doc, gd.Doc)}
				if st, ok := ts.Type.(*ast.StructType); ok {
					for _, field := range st.Fields.List {
						if field.Tag == nil {
							continue
						}
						tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("json")
						name, _, _ := strings.Cut(tag, ",")
						if name != "" && name != "-" {
							m[name] = docText(field.Doc, field.Comment)
							if mk := listMarkers(field.Doc); mk != "" {
								m["+"+name] = mk
							}
						}
					}
				}
				out[ts.Name.Name] = m
			}
		}
	}
	return out
}

// docText is the first comment group's text, without the code generators'
// +tag lines, which are not for people.
func docText(groups ...*ast.CommentGroup) string {
	for _, g := range groups {
		if g == nil {
			continue
		}
		var lines []string
		for _, l := range strings.Split(g.Text(), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "+") {
				lines = append(lines, l)
			}
		}
		return strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
	}
	return ""
}

// schemaBuilder turns Go types into OpenAPI schemas in components.schemas.
type schemaBuilder struct {
	docs    fieldDocs
	schemas jsonObj
}

var (
	timeType   = reflect.TypeFor[metav1.Time]()
	uidType    = reflect.TypeFor[types.UID]()
	rawExtType = reflect.TypeFor[runtime.RawExtension]()
	fieldsV1   = reflect.TypeFor[metav1.FieldsV1]()
)

// schemaName is the Kubernetes-style name of a type: reverse domain, then path.
func schemaName(t reflect.Type) string {
	host, rest, _ := strings.Cut(t.PkgPath(), "/")
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".") + "." + strings.ReplaceAll(rest, "/", ".") + "." + t.Name()
}

// ref returns the schema of t: a $ref for named structs, inline otherwise.
func (b *schemaBuilder) ref(t reflect.Type) jsonObj {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return jsonObj{"type": "string", "format": "date-time"}
	case uidType:
		return jsonObj{"type": "string"}
	case rawExtType, fieldsV1:
		return jsonObj{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	}
	switch t.Kind() {
	case reflect.String:
		return jsonObj{"type": "string"}
	case reflect.Bool:
		return jsonObj{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return jsonObj{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return jsonObj{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return jsonObj{"type": "string", "format": "byte"}
		}
		return jsonObj{"type": "array", "items": b.ref(t.Elem())}
	case reflect.Map:
		return jsonObj{"type": "object", "additionalProperties": b.ref(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if _, ok := b.schemas[name]; !ok {
			b.schemas[name] = jsonObj{} // placeholder: breaks recursion
			b.schemas[name] = b.object(t)
		}
		// allOf keeps the description of the field next to the reference.
		return jsonObj{"allOf": []any{jsonObj{"$ref": "#/components/schemas/" + name}}}
	}
	return jsonObj{}
}

// object builds the schema of a struct, flattening inline members.
func (b *schemaBuilder) object(t reflect.Type) jsonObj {
	props := jsonObj{}
	docs := b.docsOf(t)
	b.addFields(t, props)
	s := jsonObj{"type": "object", "properties": props}
	if d := docs[""]; d != "" {
		s["description"] = d
	}
	return s
}

func (b *schemaBuilder) addFields(t reflect.Type, props jsonObj) {
	docs := b.docsOf(t)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") || (f.Anonymous && name == "") {
			b.addFields(f.Type, props)
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := b.ref(f.Type)
		if d := docs[name]; d != "" {
			s["description"] = d
		}
		mk := docs["+"+name]
		if known, ok := metaListMarkers[t.Name()+"."+name]; ok && t.PkgPath() == metaPkg {
			mk = known
		}
		setListType(s, mk)
		props[name] = s
	}
}

// docsOf returns the descriptions of a type's fields: from the API packages'
// comments, or from apimachinery's SwaggerDoc methods.
func (b *schemaBuilder) docsOf(t reflect.Type) map[string]string {
	if d, ok := b.docs[t.Name()]; ok && strings.HasPrefix(t.PkgPath(), "pkgserver.dev/") {
		return d
	}
	if sd, ok := reflect.New(t).Elem().Interface().(interface{ SwaggerDoc() map[string]string }); ok {
		return sd.SwaggerDoc()
	}
	return nil
}

// kind registers a top-level kind with its group-version-kind extension.
func (b *schemaBuilder) kind(t reflect.Type, gvk metav1.GroupVersionKind) jsonObj {
	r := b.ref(t)
	name := schemaName(t)
	s := b.schemas[name].(jsonObj)
	s["x-kubernetes-group-version-kind"] = []any{jsonObj{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}}
	return r
}
