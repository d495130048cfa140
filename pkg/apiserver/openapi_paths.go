package apiserver

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// openAPI adds this resource's paths and schemas to a group version's document.
func (r *resource[T, P]) openAPI(b *schemaBuilder, paths jsonObj) {
	gvk := metav1.GroupVersionKind{Group: r.gvk.Group, Version: r.gvk.Version, Kind: r.gvk.Kind}
	obj := b.kind(reflect.TypeFor[T](), gvk)
	listGVK := gvk
	listGVK.Kind += "List"
	listSchema := b.listKind(reflect.TypeFor[T](), listGVK)
	status := b.ref(reflect.TypeFor[metav1.Status]())

	op := func(action, id string, resp jsonObj, params ...jsonObj) jsonObj {
		o := jsonObj{
			"operationId":                     id + r.gvk.Kind,
			"x-kubernetes-action":             action,
			"x-kubernetes-group-version-kind": jsonObj{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind},
			"responses": jsonObj{
				"200":     jsonObj{"description": "OK", "content": jsonObj{"application/json": jsonObj{"schema": resp}}},
				"default": jsonObj{"description": "Error", "content": jsonObj{"application/json": jsonObj{"schema": status}}},
			},
		}
		if len(params) > 0 {
			list := make([]any, len(params))
			for i, p := range params {
				list[i] = p
			}
			o["parameters"] = list
		}
		return o
	}
	body := func(o jsonObj, types ...string) jsonObj {
		content := jsonObj{}
		for _, t := range types {
			content[t] = jsonObj{"schema": obj}
		}
		o["requestBody"] = jsonObj{"content": content, "required": true}
		return o
	}
	q := func(name, desc string) jsonObj {
		return jsonObj{"name": name, "in": "query", "description": desc, "schema": jsonObj{"type": "string"}, "uniqueItems": true}
	}
	pathParam := func(name string) jsonObj {
		return jsonObj{"name": name, "in": "path", "required": true, "schema": jsonObj{"type": "string"}}
	}
	validation := q("fieldValidation", "Strict refuses unknown fields; anything else ignores them.")
	dryRun := q("dryRun", "All: validate the write and answer what it would give, writing nothing.")
	manager := q("fieldManager", "Who makes the change, recorded in metadata.managedFields; required for server-side apply.")
	force := jsonObj{"name": "force", "in": "query", "description": "Server-side apply: take over fields other managers own.", "schema": jsonObj{"type": "boolean"}}
	listParams := []jsonObj{
		q("labelSelector", "Select by labels."),
		q("fieldSelector", "Select by fields: metadata.name, metadata.namespace and the spec.packageRevID fields, spec.lifecycle."),
		{"name": "limit", "in": "query", "schema": jsonObj{"type": "integer"}},
		q("continue", "Token of the next page."),
		{"name": "watch", "in": "query", "schema": jsonObj{"type": "boolean"}},
		q("resourceVersion", "Where a watch starts."),
	}
	ns, name := pathParam("namespace"), pathParam("name")

	gv := "/apis/" + r.gvk.Group + "/" + r.gvk.Version
	coll := gv + "/namespaces/{namespace}/" + r.plural
	item := coll + "/{name}"

	paths[gv+"/"+r.plural] = jsonObj{"get": op("list", "list"+"AllNamespaces", listSchema, listParams...)}
	collOps := jsonObj{"get": op("list", "listNamespaced", listSchema, append([]jsonObj{ns}, listParams...)...)}
	if r.create != nil {
		collOps["post"] = body(op("post", "create", obj, ns, validation, dryRun, manager), "application/json", "application/yaml")
	}
	paths[coll] = collOps
	itemOps := jsonObj{"get": op("get", "read", obj, ns, name)}
	if r.update != nil {
		itemOps["put"] = body(op("put", "replace", obj, ns, name, validation, dryRun, manager), "application/json", "application/yaml")
		// No strategic merge patch: listing it would make kubectl send one.
		itemOps["patch"] = body(op("patch", "patch", obj, ns, name, validation, dryRun, manager, force), mergePatch, jsonPatch, applyPatch)
	}
	if r.delete != nil {
		itemOps["delete"] = op("delete", "delete", status, ns, name, dryRun)
	}
	paths[item] = itemOps
	if r.approve != nil {
		paths[item+"/approval"] = jsonObj{
			"get": op("get", "readApproval", obj, ns, name),
			"put": body(op("put", "replaceApproval", obj, ns, name, validation, dryRun), "application/json"),
		}
	}
	if r.status != nil {
		paths[item+"/status"] = jsonObj{
			"get":   op("get", "readStatus", obj, ns, name),
			"put":   body(op("put", "replaceStatus", obj, ns, name, validation, dryRun, manager), "application/json"),
			"patch": body(op("patch", "patchStatus", obj, ns, name, validation, dryRun, manager, force), mergePatch, jsonPatch, applyPatch),
		}
	}
	if r.refresh != nil {
		paths[item+"/refresh"] = jsonObj{"post": op("post", "refresh", obj, ns, name)}
	}
}

// listKind registers the <Kind>List schema of items of type t.
func (b *schemaBuilder) listKind(t reflect.Type, gvk metav1.GroupVersionKind) jsonObj {
	name := schemaName(t) + "List"
	if _, ok := b.schemas[name]; !ok {
		b.schemas[name] = jsonObj{
			"type":        "object",
			"description": gvk.Kind + " is a list of " + t.Name() + ".",
			"properties": jsonObj{
				"apiVersion": jsonObj{"type": "string"},
				"kind":       jsonObj{"type": "string"},
				"metadata":   b.ref(reflect.TypeFor[metav1.ListMeta]()),
				"items":      jsonObj{"type": "array", "items": b.ref(t)},
			},
			"required":                        []any{"items"},
			"x-kubernetes-group-version-kind": []any{jsonObj{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}},
		}
	}
	return jsonObj{"$ref": "#/components/schemas/" + name}
}
