package apiserver

import (
	"encoding/json"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// column is one column of the server-side table kubectl prints.
type column[P any] struct {
	def  metav1.TableColumnDefinition
	cell func(P) any
}

func col[P any](name, typ, desc string, priority int32, cell func(P) any) column[P] {
	format := ""
	if name == "Name" {
		format = "name"
	}
	return column[P]{def: metav1.TableColumnDefinition{Name: name, Type: typ, Format: format, Description: desc, Priority: priority}, cell: cell}
}

func ageColumn[P metav1.Object]() column[P] {
	return col("Age", "string", "Time since the object was created.", 0, func(o P) any {
		t := o.GetCreationTimestamp()
		if t.IsZero() {
			return "<unknown>"
		}
		return duration.HumanDuration(time.Since(t.Time))
	})
}

// wantsTable reports whether the client asked for a meta.k8s.io Table, as
// kubectl get does, and how to include each row's object.
func wantsTable(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		params := map[string]string{}
		for _, kv := range strings.Split(part, ";")[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			params[k] = v
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && params["v"] == "v1" {
			return true
		}
	}
	return false
}

// toTable renders items; includeObject is "None", "Object" or "Metadata" (default).
func toTable[T any, P object[T]](cols []column[P], items []T, includeObject string, listMeta metav1.ListMeta, setKind func(*T)) *metav1.Table {
	t := &metav1.Table{
		TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"},
		ListMeta: listMeta,
	}
	for _, c := range cols {
		t.ColumnDefinitions = append(t.ColumnDefinitions, c.def)
	}
	for i := range items {
		p := P(&items[i])
		setKind(&items[i])
		row := metav1.TableRow{}
		for _, c := range cols {
			row.Cells = append(row.Cells, c.cell(p))
		}
		switch includeObject {
		case "None":
		case "Object":
			row.Object = runtime.RawExtension{Raw: mustJSON(p)}
		default:
			pom := metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
				ObjectMeta: objectMeta(p),
			}
			row.Object = runtime.RawExtension{Raw: mustJSON(&pom)}
		}
		t.Rows = append(t.Rows, row)
	}
	if t.Rows == nil {
		t.Rows = []metav1.TableRow{}
	}
	return t
}

func objectMeta(o metav1.Object) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: o.GetName(), Namespace: o.GetNamespace(), UID: o.GetUID(),
		ResourceVersion: o.GetResourceVersion(), Generation: o.GetGeneration(),
		CreationTimestamp: o.GetCreationTimestamp(), Labels: o.GetLabels(), Annotations: o.GetAnnotations(),
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // API types always marshal
	}
	return b
}
