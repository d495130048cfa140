package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Kinds as -o name prints them: <resource>.<group>/<name>, as kubectl does.
const (
	repoKindName = "repository.config.pkg.pkgserver.dev"
	prKindName   = "packagerevision.pkg.pkgserver.dev"
	prrKindName  = "packagerevisionresources.pkg.pkgserver.dev"
)

// printObject writes one object as yaml or json.
func printObject(w io.Writer, format string, obj any) error {
	switch format {
	case "json":
		data, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	case "yaml":
		data, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("cannot print an object as %q", format)
}

// list is the shape yaml and json print for several objects.
type list[T any] struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []T `json:"items"`
}

// printList prints items as a <kind>List in yaml or json, one "<kind>/<name>"
// line per item for name, or as a table with row.
func printList[T any](a *app, listKind, apiVersion, kindName string, items []T, name func(*T) string, header []string, row func(*T) []string) error {
	switch a.output {
	case "yaml", "json":
		if items == nil {
			items = []T{}
		}
		return printObject(a.stdout, a.output, &list[T]{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: listKind}, Items: items})
	case "name":
		for i := range items {
			fmt.Fprintf(a.stdout, "%s/%s\n", kindName, name(&items[i]))
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range items {
		fmt.Fprintln(tw, strings.Join(row(&items[i]), "\t"))
	}
	return tw.Flush()
}

// printDone reports a change to one object: a line of words for table, the
// object for yaml and json, "<kind>/<name>" for name.
// A nil obj (a deletion) prints the line of words for yaml and json too.
func (a *app) printDone(kindName, name, what string, obj any) error {
	switch a.output {
	case "yaml", "json":
		if obj == nil {
			break
		}
		return printObject(a.stdout, a.output, obj)
	case "name":
		_, err := fmt.Fprintf(a.stdout, "%s/%s\n", kindName, name)
		return err
	}
	_, err := fmt.Fprintf(a.stdout, "%s %s\n", name, what)
	return err
}

// trimKind accepts NAME also as "<kind>/NAME", the way -o name prints it.
func trimKind(name string, kinds ...string) string {
	prefix, rest, ok := strings.Cut(name, "/")
	if !ok {
		return name
	}
	for _, k := range kinds {
		if prefix == k {
			return rest
		}
	}
	return name
}

func prName(name string) string {
	return trimKind(name, prKindName, prrKindName, "packagerevision", "packagerevisions", "packagerevisionresources", "pr", "prr")
}

func repoName(name string) string {
	return trimKind(name, repoKindName, "repository", "repositories", "repo")
}
