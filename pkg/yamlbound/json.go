package yamlbound

import (
	"encoding/json"
	"io"

	"sigs.k8s.io/yaml"
)

// ToJSON converts a YAML request body holding one object to JSON, after the
// first document passed l. A body that is JSON already (kubectl sends
// server-side apply patches so) is returned as it is: JSON is YAML, and it
// must not pay for the YAML parser's node trees, which cost far more than
// the bytes. The conversion is sigs.k8s.io/yaml's, as Kubernetes does it.
func ToJSON(data []byte, l Limits) ([]byte, error) {
	if json.Valid(data) {
		return data, nil
	}
	d := NewDecoder(string(data), NewBudget(l))
	if _, err := d.Next(); err != nil && err != io.EOF {
		return nil, err
	}
	return yaml.YAMLToJSON(data)
}
