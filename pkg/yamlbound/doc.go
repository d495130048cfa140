// Package yamlbound decodes YAML that comes from outside (package files,
// request bodies, patches) at a bounded cost. Every path of pkgserver that
// parses such YAML goes through it.
//
// What go.yaml.in/yaml/v3 bounds by itself: nesting, to 10,000 levels; and,
// only when decoding into Go values, aliasing by ratio ("document contains
// excessive aliasing": past 1,000 decoded nodes, 99% may come from aliases up
// to 400,000 nodes, scaled down to 10% at 4,000,000), counted afresh for every
// document. Decoding into yaml.Node expands and counts nothing; a stream may
// hold any number of documents; a stream of documents that each stay under the
// ratio costs their sum; and a mapping with many equal keys makes the decoder
// keep one error per pair of them. The parser also builds a document's whole
// node tree before anything can look at it, at up to about 190 bytes of memory
// per byte of dense YAML. Limits adds what is missing: documents per stream,
// bytes per document (checked before parsing), nesting depth, and a budget of
// nodes with every alias counted as a copy of what it names.
package yamlbound
