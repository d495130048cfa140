package outbound

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"sigs.k8s.io/yaml"

	"pkgserver.dev/pkgserver/pkg/auth/internal/reload"
)

// CredentialsFile is the --registry-credentials-file: named registry
// credentials, read again when the file changes.
//
//	credentials:
//	- name: team-a-harbor          # what spec.oci.secretRef.name says
//	  registry: harbor.example     # the registry they are for (and the token endpoint it names)
//	  namespaces: [team-a]         # who may use them; empty: every namespace
//	  username: robot$team-a
//	  password: …                  # or identityToken (OAuth2 refresh token) or registryToken
type CredentialsFile struct {
	files *reload.Files[map[string]Entry]
}

// Entry is one named credential.
type Entry struct {
	Name          string   `json:"name"`
	Registry      string   `json:"registry"`
	Namespaces    []string `json:"namespaces,omitempty"`
	Username      string   `json:"username,omitempty"`
	Password      string   `json:"password,omitempty"`
	IdentityToken string   `json:"identityToken,omitempty"`
	RegistryToken string   `json:"registryToken,omitempty"`
}

// LoadCredentialsFile reads path.
func LoadCredentialsFile(path string, log *slog.Logger) (*CredentialsFile, error) {
	f, err := reload.New(func(data [][]byte) (map[string]Entry, error) { return ParseCredentials(data[0]) }, []string{path}, reload.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("--registry-credentials-file: %w", err)
	}
	return &CredentialsFile{files: f}, nil
}

// ParseCredentials parses a credentials file (YAML or JSON). Unknown fields,
// duplicate names, entries without a registry or with no secret are errors.
func ParseCredentials(data []byte) (map[string]Entry, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Credentials []Entry `json:"credentials"`
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	if err := d.Decode(&doc); err != nil && !bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, err
	}
	out := map[string]Entry{}
	for i, e := range doc.Credentials {
		switch {
		case e.Name == "":
			return nil, fmt.Errorf("credentials[%d]: name is required", i)
		case e.Registry == "" || strings.ContainsAny(e.Registry, "/@ ") || strings.Contains(e.Registry, "://"):
			return nil, fmt.Errorf("credentials[%d] %q: registry must be host or host:port", i, e.Name)
		case e.Password == "" && e.IdentityToken == "" && e.RegistryToken == "":
			return nil, fmt.Errorf("credentials[%d] %q: needs password, identityToken or registryToken", i, e.Name)
		}
		if _, dup := out[e.Name]; dup {
			return nil, fmt.Errorf("credentials[%d]: name %q is used twice", i, e.Name)
		}
		out[e.Name] = e
	}
	return out, nil
}

func (f *CredentialsFile) lookup(name string) (Entry, bool) {
	if f == nil {
		return Entry{}, false
	}
	e, ok := f.files.Get()[name]
	return e, ok
}
