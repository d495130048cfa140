package authn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
)

// CAs returns the current CA bundle (certs.CAPool.Pool).
type CAs func() *x509.CertPool

// verifyClientCert verifies the TLS client certificate of r against cas.
// ok is false when r has no client certificate.
func verifyClientCert(r *http.Request, cas CAs) (*x509.Certificate, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         cas(),
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return leaf, true, fmt.Errorf("client certificate %q: %w", leaf.Subject.CommonName, err)
	}
	return leaf, true, nil
}

// ClientCert authenticates TLS client certificates signed by a CA of
// --client-ca-file: the common name is the user, the organizations its groups.
type ClientCert struct {
	CAs CAs
}

// AuthenticateRequest implements Request.
func (a ClientCert) AuthenticateRequest(r *http.Request) (user.Info, bool, error) {
	cert, ok, err := verifyClientCert(r, a.CAs)
	if !ok || err != nil {
		return nil, false, err
	}
	if cert.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate has no common name")
	}
	return &user.DefaultInfo{Name: cert.Subject.CommonName, Groups: slices.Clone(cert.Subject.Organization)}, true, nil
}

// RequestHeader trusts identity headers (X-Remote-User and friends) only
// from an authenticating front proxy whose client certificate is signed by a
// CA of --requestheader-client-ca-file (and, when AllowedNames is set, has
// one of those common names), as Kubernetes aggregated API servers do. From
// anyone else the headers are ignored; Strip removes them before handlers run.
type RequestHeader struct {
	CAs                 CAs
	AllowedNames        []string
	UsernameHeaders     []string
	GroupHeaders        []string
	ExtraHeaderPrefixes []string
}

// Default headers, the ones kube-apiserver's documentation uses.
var (
	DefaultUsernameHeaders     = []string{"X-Remote-User"}
	DefaultGroupHeaders        = []string{"X-Remote-Group"}
	DefaultExtraHeaderPrefixes = []string{"X-Remote-Extra-"}
)

// AuthenticateRequest implements Request.
func (a *RequestHeader) AuthenticateRequest(r *http.Request) (user.Info, bool, error) {
	cert, ok, err := verifyClientCert(r, a.CAs)
	if !ok || err != nil {
		// Not the proxy: maybe a client certificate of --client-ca-file, which
		// the next authenticator verifies. Never an error here.
		return nil, false, nil
	}
	if len(a.AllowedNames) > 0 && !slices.Contains(a.AllowedNames, cert.Subject.CommonName) {
		return nil, false, fmt.Errorf("front proxy certificate %q is not in --requestheader-allowed-names", cert.Subject.CommonName)
	}
	name := ""
	for _, h := range a.UsernameHeaders {
		if name = strings.TrimSpace(r.Header.Get(h)); name != "" {
			break
		}
	}
	if name == "" {
		return nil, false, nil
	}
	u := &user.DefaultInfo{Name: name}
	for _, h := range a.GroupHeaders {
		u.Groups = append(u.Groups, r.Header.Values(h)...)
	}
	for h, vs := range r.Header {
		for _, p := range a.ExtraHeaderPrefixes {
			if key, ok := cutPrefixFold(h, p); ok && key != "" {
				if u.Extra == nil {
					u.Extra = map[string][]string{}
				}
				if k, err := url.PathUnescape(key); err == nil {
					key = k
				}
				key = strings.ToLower(key)
				u.Extra[key] = append(u.Extra[key], vs...)
			}
		}
	}
	return u, true, nil
}

// Strip removes the identity headers from r, whoever sent them, so nothing
// after authentication can read a forged one.
func (a *RequestHeader) Strip(r *http.Request) {
	for _, h := range slices.Concat(a.UsernameHeaders, a.GroupHeaders) {
		r.Header.Del(h)
	}
	for h := range r.Header {
		for _, p := range a.ExtraHeaderPrefixes {
			if _, ok := cutPrefixFold(h, p); ok {
				r.Header.Del(h)
			}
		}
	}
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
