package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

const (
	configPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/"
	pkgPath    = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/"
)

// Client speaks the pkgserver HTTP API, as kubectl or a CI job would.
type Client struct {
	Base string // http://host:port
	HTTP *http.Client
}

// NewClient returns a client of the server at base with keep-alive connections.
func NewClient(base string) *Client {
	return &Client{Base: base, HTTP: &http.Client{
		Timeout:   10 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

// do sends in as JSON and decodes the answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// fetch GETs path and reads the whole body; it returns the body size. It is
// what the timed reads use: the time is the time to the last byte.
func (c *Client) fetch(ctx context.Context, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return int(n), err
	}
	if resp.StatusCode != http.StatusOK {
		return int(n), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return int(n), nil
}

// CreateRepository registers a Repository; oci nil means the embedded store.
func (c *Client) CreateRepository(ctx context.Context, ns, name string, oci *configapi.OCIRepository) error {
	r := configapi.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       configapi.RepositorySpec{Type: "oci", OCI: oci},
	}
	return c.do(ctx, http.MethodPost, configPath+ns+"/repositories", r, nil)
}

// CreateRevision creates a draft with the init task.
func (c *Client) CreateRevision(ctx context.Context, ns string, id pkgapi.PackageRevID) (*pkgapi.PackageRevision, error) {
	in := pkgapi.PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: "PackageRevision"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns},
		Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: id,
			Tasks:        []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "benchmark package"}}},
		},
	}
	var out pkgapi.PackageRevision
	return &out, c.do(ctx, http.MethodPost, pkgPath+ns+"/packagerevisions", in, &out)
}

// PutResources replaces the files of a draft.
func (c *Client) PutResources(ctx context.Context, pr *pkgapi.PackageRevision, files map[string]string) (*pkgapi.PackageRevisionResources, error) {
	in := pkgapi.PackageRevisionResources{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: "PackageRevisionResources"},
		ObjectMeta: metav1.ObjectMeta{Name: pr.Name, Namespace: pr.Namespace, ResourceVersion: pr.ResourceVersion},
		Spec:       pkgapi.PackageRevisionResourcesSpec{PackageRevID: pr.Spec.PackageRevID, Resources: files},
	}
	var out pkgapi.PackageRevisionResources
	return &out, c.do(ctx, http.MethodPut, pkgPath+pr.Namespace+"/packagerevisionresources/"+pr.Name, in, &out)
}

// SetLifecycle updates spec.lifecycle through the object (draft ↔ proposed)
// or, when approval is true, through the /approval subresource.
func (c *Client) SetLifecycle(ctx context.Context, pr *pkgapi.PackageRevision, rv string, l pkgapi.Lifecycle, approval bool) (*pkgapi.PackageRevision, error) {
	in := pr.DeepCopy()
	in.ResourceVersion = rv
	in.Spec.Lifecycle = l
	path := pkgPath + pr.Namespace + "/packagerevisions/" + pr.Name
	if approval {
		path += "/approval"
	}
	var out pkgapi.PackageRevision
	return &out, c.do(ctx, http.MethodPut, path, in, &out)
}

// revisionPath, resourcesPath and listPath are the API paths the timed reads use.
func revisionPath(ns, name string) string  { return pkgPath + ns + "/packagerevisions/" + name }
func resourcesPath(ns, name string) string { return pkgPath + ns + "/packagerevisionresources/" + name }
func listPath(ns string) string            { return pkgPath + ns + "/packagerevisions" }

// CountRevisions lists the namespace and returns how many revisions it has.
func (c *Client) CountRevisions(ctx context.Context, ns string) (int, error) {
	var l struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, listPath(ns), nil, &l); err != nil {
		return 0, err
	}
	return len(l.Items), nil
}

// listScan is what a streamed list held: its size, its items (counted by
// their metadata.uid, which every object has and nothing else in a
// PackageRevision carries) and its list metadata, which pkgserver writes
// before the items, as Kubernetes does.
type listScan struct {
	bytes           int
	items           int
	resourceVersion string
	continueToken   string
}

// uidKey starts every object's metadata.uid in compact JSON.
var uidKey = []byte(`"uid":"`)

// scanWriter counts uidKey across writes and keeps the last bytes.
type scanWriter struct {
	n     int
	count int
	carry []byte // the end of the previous write, len(uidKey)-1 bytes at most
	head  []byte // the first 8 KB
	tail  []byte
}

func (w *scanWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	// A key split between two writes is found in carry+head.
	if len(w.carry) > 0 {
		head := p[:min(len(p), len(uidKey)-1)]
		joined := append(slices.Clone(w.carry), head...)
		w.count += bytes.Count(joined, uidKey)
	}
	w.count += bytes.Count(p, uidKey)
	w.carry = append(w.carry[:0], p[max(0, len(p)-(len(uidKey)-1)):]...)
	if room := 8192 - len(w.head); room > 0 {
		w.head = append(w.head, p[:min(room, len(p))]...)
	}
	w.tail = append(w.tail, p...)
	if over := len(w.tail) - 8192; over > 0 {
		w.tail = append(w.tail[:0], w.tail[over:]...)
	}
	return len(p), nil
}

// scanList GETs a list and scans it (see listScan).
func (c *Client) scanList(ctx context.Context, path string) (listScan, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return listScan{}, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return listScan{}, err
	}
	defer resp.Body.Close()
	var w scanWriter
	if _, err := io.Copy(&w, resp.Body); err != nil {
		return listScan{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return listScan{}, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(w.tail))
	}
	s := listScan{bytes: w.n, items: w.count}
	// The list's own metadata comes before the first item's.
	i := bytes.Index(w.head, []byte(`"metadata":`))
	if j := bytes.Index(w.head, []byte(`"items":`)); i < 0 || j >= 0 && j < i {
		return s, fmt.Errorf("GET %s: no list metadata before the items", path)
	}
	var meta metav1.ListMeta
	if err := json.NewDecoder(bytes.NewReader(w.head[i+len(`"metadata":`):])).Decode(&meta); err != nil {
		return s, fmt.Errorf("GET %s: list metadata: %w", path, err)
	}
	s.resourceVersion, s.continueToken = meta.ResourceVersion, meta.Continue
	return s, nil
}

// listURL builds the path of a list of ns with query parameters.
func listURL(ns string, params url.Values) string {
	if len(params) == 0 {
		return listPath(ns)
	}
	return listPath(ns) + "?" + params.Encode()
}
