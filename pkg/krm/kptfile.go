package krm

import (
	"bytes"
	"errors"

	"go.yaml.in/yaml/v3"
)

// kptfile is the part of kpt's kpt.dev/v1 Kptfile that a new package needs;
// field order is the order kpt writes.
type kptfile struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   kptMetadata `yaml:"metadata"`
	Info       *kptInfo    `yaml:"info,omitempty"`
}

type kptMetadata struct {
	Name        string            `yaml:"name"`
	Annotations map[string]string `yaml:"annotations"`
}

type kptInfo struct {
	Description string `yaml:"description"`
}

// NewKptfile returns the Kptfile of a new package, as kpt pkg init writes it.
// It is annotated local-config so that tools applying the package skip it. An
// empty description leaves out the info section.
func NewKptfile(name, description string) string {
	kf := kptfile{
		APIVersion: "kpt.dev/v1",
		Kind:       "Kptfile",
		Metadata: kptMetadata{
			Name:        name,
			Annotations: map[string]string{"config.kubernetes.io/local-config": "true"},
		},
	}
	if description != "" {
		kf.Info = &kptInfo{Description: description}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := errors.Join(enc.Encode(kf), enc.Close()); err != nil {
		// Encoding a struct of strings into memory cannot fail.
		panic("krm: encoding Kptfile: " + err.Error())
	}
	return b.String()
}
