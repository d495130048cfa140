package bench

import "pkgserver.dev/pkgserver/internal/registryproc"

// Registry is a CNCF distribution registry process.
type Registry struct {
	Addr string // host:port

	proc *registryproc.Process
}

// StartRegistry runs bin on a free 127.0.0.1 port with its storage under dir
// and waits until it answers GET /v2/.
func StartRegistry(bin, dir string) (*Registry, error) {
	p, err := registryproc.Start(bin, dir)
	if err != nil {
		return nil, err
	}
	return &Registry{Addr: p.Addr, proc: p}, nil
}

// registryBinary finds the registry binary (see registryproc.Binary).
func registryBinary() (string, error) { return registryproc.Binary() }

// Stop kills the registry and waits for it to exit.
func (r *Registry) Stop() { r.proc.Stop() }
