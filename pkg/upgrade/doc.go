// Package upgrade rebases a downstream package onto a newer revision of its
// upstream, with the strategies of kpt pkg update and Porch's upgrade task:
// resource-merge, fast-forward, force-delete-replace and copy-merge.
//
// A package is a map of relative file path to file text. Files named *.yaml,
// *.yml and Kptfile hold KRM resources, possibly several documents each;
// every other file is opaque text.
//
// # Resource merge
//
// Resources are matched across the three packages by identity (group, kind,
// namespace, name), whatever file they sit in; a Kptfile is matched by its
// path. For each resource:
//
//   - added upstream: added, in the file upstream put it in;
//   - added locally: kept;
//   - deleted upstream: deleted if unchanged locally, else kept and reported;
//   - deleted locally: stays deleted; reported if upstream changed it;
//   - present on both sides: merged field by field with kyaml's three-way
//     merge (sigs.k8s.io/kustomize/kyaml/yaml/merge3).
//
// merge3 takes the upstream value when both sides changed a field (kpt
// documents the same). This package keeps the local value instead, and
// reports the field as a Conflict, so a downstream customisation is never
// lost silently and the operator sees what upstream wanted. To do that, and
// because merge3 replaces lists it cannot match by key wholesale, every
// merged resource is checked against the three-way rule per field: lists of
// mappings are compared element by element when each element has a unique
// name (or containerPort, mountPath, ... as kpt infers), other lists as a
// whole. The check corrects the few fields where merge3 differs from the rule.
//
// Files that are not KRM (or do not parse on one of the three sides) are
// merged as whole files: upstream's text if the local one is unchanged, the
// local text if upstream's is unchanged, else the local text and a Conflict.
//
// In every strategy the Kptfile keeps the local metadata.name, upstream and
// upstreamLock: they describe the downstream package, which the engine
// records separately.
package upgrade
