package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"oras.land/oras-go/v2/registry/remote/retry"

	"pkgserver.dev/pkgserver/pkg/apiserver"
	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/auth/certs"
	"pkgserver.dev/pkgserver/pkg/auth/outbound"
	"pkgserver.dev/pkgserver/pkg/auth/registryauth"
	"pkgserver.dev/pkgserver/pkg/console"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// Security is TLS, authentication, authorization, audit and the outbound
// policy (docs/security.md). Field names follow kube-apiserver's flags. The
// zero value is the zero configuration, allowed on loopback only.
type Security struct {
	// TLSCertFile and TLSPrivateKeyFile serve HTTPS; both are read again
	// when they change.
	TLSCertFile, TLSPrivateKeyFile string
	// ClientCAFile verifies client certificates (CN user, O groups).
	ClientCAFile string
	// TokenAuthFile holds static bearer tokens (token,user,uid,"groups").
	TokenAuthFile string
	// OIDC authenticates ID tokens when OIDC.IssuerURL is set.
	OIDC authn.OIDCOptions
	// RequestHeader trusts identity headers from a front proxy.
	RequestHeader RequestHeader
	// AnonymousAuth lets requests without credentials in as system:anonymous
	// when authenticators are configured, and allows a non-loopback listener
	// without any.
	AnonymousAuth bool
	// AuthorizationPolicyFile holds RBAC objects; empty allows everything.
	AuthorizationPolicyFile string
	// AuditLogPath receives the audit log ("-" for standard output).
	AuditLogPath string
	// AllowedRegistries are host patterns spec.oci.registry may name.
	AllowedRegistries []string
	// RegistryCredentialsFile holds named credentials for spec.oci.secretRef.
	RegistryCredentialsFile string
	// RegistryDockerCredentials lets Repositories without a secretRef use
	// the server's Docker config and credential helpers.
	RegistryDockerCredentials bool
	// RegistryTokenKeyFile holds the key (at least 32 bytes) that signs /v2/
	// tokens; replicas need the same one. Empty: a random key per process.
	RegistryTokenKeyFile string
}

// RequestHeader is the front proxy configuration (--requestheader-*).
type RequestHeader struct {
	ClientCAFile        string
	AllowedNames        []string
	UsernameHeaders     []string
	GroupHeaders        []string
	ExtraHeaderPrefixes []string
}

// tokenRealm is the path of the /v2/ token endpoint.
const tokenRealm = "/auth/token"

// tokenService names this server in registry tokens and challenges.
const tokenService = "pkgserver"

// security is Security built.
type security struct {
	tls        *tls.Config // nil: plain HTTP
	chain      *authn.Chain
	authorizer authz.Authorizer
	audit      *audit.Log
	strip      func(*http.Request)
	issuer     *registryauth.Issuer
	tokens     authn.Tokens
	oidc       *authn.OIDC // nil without --oidc-issuer-url
	tokenKey   []byte      // --registry-token-key-file, also the console's session key
	outbound   *outbound.Policy
}

// build checks the configuration and loads every file; listen is the
// address the server will listen on.
func (c Security) build(listen string, log *slog.Logger) (*security, error) {
	s := &security{chain: &authn.Chain{Anonymous: c.AnonymousAuth}, authorizer: authz.AlwaysAllow{}}
	if (c.TLSCertFile == "") != (c.TLSPrivateKeyFile == "") {
		return nil, errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	if c.TLSCertFile == "" && (c.ClientCAFile != "" || c.RequestHeader.ClientCAFile != "") {
		return nil, errors.New("--client-ca-file and --requestheader-client-ca-file need TLS (--tls-cert-file, --tls-private-key-file)")
	}
	if c.TLSCertFile != "" {
		kp, err := certs.NewKeyPair(c.TLSCertFile, c.TLSPrivateKeyFile, log)
		if err != nil {
			return nil, err
		}
		s.tls = certs.ServerConfig(kp, c.ClientCAFile != "" || c.RequestHeader.ClientCAFile != "")
	}

	// The order is kube-apiserver's: front proxy, client certificates, tokens.
	if rh := c.RequestHeader; rh.ClientCAFile != "" {
		pool, err := certs.NewCAPool(rh.ClientCAFile, log)
		if err != nil {
			return nil, fmt.Errorf("--requestheader-client-ca-file: %w", err)
		}
		a := &authn.RequestHeader{
			CAs: pool.Pool, AllowedNames: rh.AllowedNames,
			UsernameHeaders: orDefault(rh.UsernameHeaders, authn.DefaultUsernameHeaders), GroupHeaders: orDefault(rh.GroupHeaders, authn.DefaultGroupHeaders),
			ExtraHeaderPrefixes: orDefault(rh.ExtraHeaderPrefixes, authn.DefaultExtraHeaderPrefixes),
		}
		s.chain.Authenticators = append(s.chain.Authenticators, a)
		s.strip = a.Strip
	} else {
		// No front proxy: its default headers are still removed unread.
		none := &authn.RequestHeader{UsernameHeaders: authn.DefaultUsernameHeaders, GroupHeaders: authn.DefaultGroupHeaders, ExtraHeaderPrefixes: authn.DefaultExtraHeaderPrefixes}
		s.strip = none.Strip
	}
	if err := c.checkCAs(); err != nil {
		return nil, err
	}
	if c.ClientCAFile != "" {
		pool, err := certs.NewCAPool(c.ClientCAFile, log)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		s.chain.Authenticators = append(s.chain.Authenticators, authn.ClientCert{CAs: pool.Pool})
	}
	if c.TokenAuthFile != "" {
		tf, err := authn.NewTokenFile(c.TokenAuthFile, log)
		if err != nil {
			return nil, err
		}
		s.tokens = append(s.tokens, tf)
	}
	if c.OIDC.IssuerURL != "" {
		o, err := authn.NewOIDC(c.OIDC, log)
		if err != nil {
			return nil, err
		}
		s.tokens = append(s.tokens, o)
		s.oidc = o
	} else if c.OIDC.ClientID != "" {
		return nil, errors.New("--oidc-client-id needs --oidc-issuer-url")
	}
	if len(s.tokens) > 0 {
		s.chain.Authenticators = append(s.chain.Authenticators, authn.Bearer(s.tokens), authn.Basic(s.tokens))
	}
	var key []byte
	if c.RegistryTokenKeyFile != "" {
		k, err := os.ReadFile(c.RegistryTokenKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--registry-token-key-file: %w", err)
		}
		key = []byte(strings.TrimSpace(string(k)))
	}
	s.tokenKey = key
	issuer, err := registryauth.NewIssuer(key, tokenService, registryauth.DefaultTokenTTL)
	if err != nil {
		return nil, fmt.Errorf("--registry-token-key-file: %w", err)
	}
	s.issuer = issuer
	if s.chain.Configured() {
		// Tokens of the /v2/ token endpoint are good on /v2/ only.
		s.chain.Authenticators = append(s.chain.Authenticators, authn.OnlyUnder("/v2/", authn.Bearer(issuer)))
	}

	loopback := isLoopback(listen)
	if !s.chain.Configured() && !loopback && !c.AnonymousAuth {
		return nil, fmt.Errorf("refusing to serve %s without authentication: configure --token-auth-file, --oidc-issuer-url, --client-ca-file or --requestheader-client-ca-file (see docs/security.md), or pass --anonymous-auth=true to let anyone in", listen)
	}

	if c.AuthorizationPolicyFile != "" {
		pf, err := authz.NewPolicyFile(c.AuthorizationPolicyFile, log)
		if err != nil {
			return nil, err
		}
		s.authorizer = pf
	} else if !loopback {
		log.Warn("no --authorization-policy-file: every user that gets in may do everything")
	}
	if c.AuditLogPath != "" {
		if s.audit, err = audit.Open(c.AuditLogPath); err != nil {
			return nil, err
		}
	}

	allowed, err := outbound.ParseAllowList(c.AllowedRegistries)
	if err != nil {
		return nil, err
	}
	s.outbound = &outbound.Policy{Allowed: allowed, DockerCredentials: c.RegistryDockerCredentials}
	if c.RegistryCredentialsFile != "" {
		if s.outbound.Credentials, err = outbound.LoadCredentialsFile(c.RegistryCredentialsFile, log); err != nil {
			return nil, err
		}
	}
	if s.tls == nil && s.chain.Configured() && !loopback {
		log.Warn("credentials travel in clear text: serve TLS (--tls-cert-file, --tls-private-key-file)")
	}
	return s, nil
}

// checkCAs refuses a front proxy CA that also signs client certificates
// when any common name may be the proxy: every client certificate could then
// send X-Remote-User and be anyone. Kubernetes asks for a CA of its own.
func (c Security) checkCAs() error {
	rh := c.RequestHeader
	if rh.ClientCAFile == "" || c.ClientCAFile == "" || len(rh.AllowedNames) > 0 {
		return nil
	}
	proxy, err := os.ReadFile(rh.ClientCAFile)
	if err != nil {
		return fmt.Errorf("--requestheader-client-ca-file: %w", err)
	}
	clients, err := os.ReadFile(c.ClientCAFile)
	if err != nil {
		return fmt.Errorf("--client-ca-file: %w", err)
	}
	if certs.SharedCA(proxy, clients) {
		return errors.New("--requestheader-client-ca-file shares a CA with --client-ca-file: every client certificate could then claim any identity with X-Remote-User; give the front proxy a CA of its own, or name its certificate with --requestheader-allowed-names")
	}
	return nil
}

// apiAuth is the apiserver's view.
func (s *security) apiAuth() apiserver.Auth {
	return apiserver.Auth{
		Authenticator: s.chain, Authorizer: s.authorizer, Audit: s.audit, Strip: s.strip,
		SelfAuthorized: func(p string) bool {
			return p == "/v2" || strings.HasPrefix(p, "/v2/") || p == tokenRealm || console.Owns(p)
		},
	}
}

// guardsRegistry reports whether /v2/ requests need authorizing (or
// auditing); the zero configuration serves them as they are.
func (s *security) guardsRegistry() bool {
	_, all := s.authorizer.(authz.AlwaysAllow)
	return s.chain.Configured() || !all || s.audit != nil
}

// remoteStores opens remote registries under the outbound policy.
func (s *security) remoteStores(host string, plainHTTP bool, namespace, credentials string) (store.Store, error) {
	cs, err := s.outbound.CredentialStore(host, namespace, credentials)
	if err != nil {
		return nil, err
	}
	// The token endpoints and redirect targets a registry names are held
	// to --allowed-registries too; the retry client sits under that check.
	client := &http.Client{Transport: s.outbound.Transport(retry.NewTransport(nil))}
	return remote.New(host, remote.WithPlainHTTP(plainHTTP), remote.WithCredentials(cs), remote.WithHTTPClient(client))
}

func (s *security) close() { s.audit.Close() }

// isLoopback reports whether listen (host:port) only accepts local connections.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func orDefault(v, def []string) []string {
	if len(v) == 0 {
		return def
	}
	return v
}

// tagExists answers registryauth's question on the embedded store.
func tagExists(s store.Store) func(ctx context.Context, name, tag string) bool {
	return func(ctx context.Context, name, tag string) bool {
		r, err := s.Repository(ctx, name)
		if err != nil {
			return false
		}
		_, err = r.Resolve(ctx, tag)
		return err == nil
	}
}
