package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/format"
)

// orasClient pushes and pulls packages with oras-go directly, in process, the
// way the oras CLI does (oras.Copy between a memory store and the registry),
// so that pkgserver can be compared with the registry's own cost.
type orasClient struct {
	registry string // host:port
	client   *http.Client
}

func (o orasClient) repository(path string) (*remote.Repository, error) {
	repo, err := remote.NewRepository(o.registry + "/" + path)
	if err != nil {
		return nil, err
	}
	repo.PlainHTTP = true
	if o.client != nil {
		repo.Client = o.client
	}
	return repo, nil
}

// push packs files the way pkgserver stores them (one tar+gzip layer, the
// same annotations) and copies the artifact to path:tag.
func (o orasClient) push(ctx context.Context, path, tag, pkg string, files map[string]string) error {
	layer, err := format.PackLayer(pkg, files)
	if err != nil {
		return err
	}
	manifest := format.Manifest(format.Meta{Lifecycle: pkgapi.LifecyclePublished, Package: pkg, Revision: tag}, layer.Descriptor)
	mem := memory.New()
	for _, b := range []format.Blob{format.Empty, {Data: layer.Data, Descriptor: layer.Descriptor}, manifest} {
		if err := mem.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
			return err
		}
	}
	if err := mem.Tag(ctx, manifest.Descriptor, tag); err != nil {
		return err
	}
	repo, err := o.repository(path)
	if err != nil {
		return err
	}
	_, err = oras.Copy(ctx, mem, tag, repo, tag, oras.DefaultCopyOptions)
	return err
}

// pull copies path:tag into memory and unpacks the files, as `oras pull` does.
func (o orasClient) pull(ctx context.Context, path, tag string) (map[string]string, error) {
	repo, err := o.repository(path)
	if err != nil {
		return nil, err
	}
	mem := memory.New()
	root, err := oras.Copy(ctx, repo, tag, mem, tag, oras.DefaultCopyOptions)
	if err != nil {
		return nil, err
	}
	mdata, err := content.FetchAll(ctx, mem, root)
	if err != nil {
		return nil, err
	}
	m, err := format.ParseManifest(mdata)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, l := range m.Layers {
		rc, err := mem.Fetch(ctx, l)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if err := format.ReadLayer(l, data, files); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// hasV2 reports whether base (http://host:port) serves the distribution API.
// Only a 404 means "absent"; anything else unexpected is an error.
func hasV2(ctx context.Context, base string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusUnauthorized:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("GET %s/v2/: %s", base, resp.Status)
}
