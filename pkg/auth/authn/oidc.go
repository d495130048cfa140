package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"k8s.io/apiserver/pkg/authentication/user"
)

// OIDCOptions are kube-apiserver's --oidc-* flags.
type OIDCOptions struct {
	// IssuerURL is the https URL of the issuer; tokens must carry it as iss.
	IssuerURL string
	// ClientID must be in the token's aud.
	ClientID string
	// UsernameClaim names the user (default "sub").
	UsernameClaim string
	// UsernamePrefix is put before user names. Empty: the issuer URL and "#"
	// unless the claim is "email"; "-": no prefix.
	UsernamePrefix string
	// GroupsClaim names the groups (a string or a list); empty: no groups.
	GroupsClaim string
	// GroupsPrefix is put before every group.
	GroupsPrefix string
	// CAFile, when set, is the CA bundle the issuer's certificate is checked
	// against instead of the system's.
	CAFile string
}

// OIDC authenticates ID tokens of one OpenID Connect issuer with go-oidc:
// signature (keys from the issuer's JWKS, fetched again when a token names a
// key not yet known, so the issuer rotates keys freely), issuer, audience
// and expiry. The issuer is discovered lazily, so pkgserver starts while it
// is down.
type OIDC struct {
	opts   OIDCOptions
	client *http.Client
	log    *slog.Logger

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
	lastErr  error
}

// retryDiscovery is how long a failed discovery is not tried again.
const retryDiscovery = 5 * time.Second

// NewOIDC checks opts and returns the authenticator.
func NewOIDC(opts OIDCOptions, log *slog.Logger) (*OIDC, error) {
	if !strings.HasPrefix(opts.IssuerURL, "https://") {
		return nil, fmt.Errorf("--oidc-issuer-url %q: must be an https URL", opts.IssuerURL)
	}
	if opts.ClientID == "" {
		return nil, errors.New("--oidc-client-id is required with --oidc-issuer-url")
	}
	if opts.UsernameClaim == "" {
		opts.UsernameClaim = "sub"
	}
	if opts.UsernamePrefix == "" && opts.UsernameClaim != "email" {
		opts.UsernamePrefix = opts.IssuerURL + "#"
	}
	if opts.UsernamePrefix == "-" {
		opts.UsernamePrefix = ""
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--oidc-ca-file %s: no PEM certificate found", opts.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
		client.Transport = tr
	}
	return &OIDC{opts: opts, client: client, log: log}, nil
}

// Options are the options in force (defaults applied).
func (o *OIDC) Options() OIDCOptions { return o.opts }

// HTTPClient is the client that reaches the issuer (trusting
// --oidc-ca-file), for the console's sign-in with the same issuer.
func (o *OIDC) HTTPClient() *http.Client { return o.client }

// AuthenticateToken implements Token. Tokens that are not JWTs from this
// issuer are not its business (ok false); the others must verify.
func (o *OIDC) AuthenticateToken(ctx context.Context, token string) (user.Info, bool, error) {
	if iss, ok := unverifiedIssuer(token); !ok || iss != o.opts.IssuerURL {
		return nil, false, nil
	}
	v, err := o.getVerifier()
	if err != nil {
		return nil, false, fmt.Errorf("oidc: issuer %s not reachable: %w", o.opts.IssuerURL, err)
	}
	idt, err := v.Verify(oidc.ClientContext(ctx, o.client), token)
	if err != nil {
		return nil, false, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, false, err
	}
	name, ok := claims[o.opts.UsernameClaim].(string)
	if !ok || name == "" {
		return nil, false, fmt.Errorf("oidc: claim %q is missing or not a string", o.opts.UsernameClaim)
	}
	if o.opts.UsernameClaim == "email" {
		// An address the issuer did not verify could be anyone's.
		if v, present := claims["email_verified"]; present && v != true {
			return nil, false, errors.New("oidc: email_verified is not true")
		}
	}
	u := &user.DefaultInfo{Name: o.opts.UsernamePrefix + name}
	if o.opts.GroupsClaim != "" {
		switch g := claims[o.opts.GroupsClaim].(type) {
		case nil:
		case string:
			u.Groups = []string{o.opts.GroupsPrefix + g}
		case []any:
			for _, x := range g {
				s, ok := x.(string)
				if !ok {
					return nil, false, fmt.Errorf("oidc: claim %q holds a non-string", o.opts.GroupsClaim)
				}
				u.Groups = append(u.Groups, o.opts.GroupsPrefix+s)
			}
		default:
			return nil, false, fmt.Errorf("oidc: claim %q is not a string or a list of strings", o.opts.GroupsClaim)
		}
	}
	return u, true, nil
}

func (o *OIDC) getVerifier() (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	if time.Since(o.lastTry) < retryDiscovery {
		return nil, o.lastErr
	}
	o.lastTry = time.Now()
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), o.client), 30*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.opts.IssuerURL)
	if err != nil {
		o.lastErr = err
		o.log.Warn("OIDC discovery failed; OIDC tokens are refused until it works", "issuer", o.opts.IssuerURL, "err", err)
		return nil, err
	}
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.opts.ClientID})
	return o.verifier, nil
}

// unverifiedIssuer reads the iss claim of a compact JWS without checking
// anything, to decide which authenticator a token is for.
func unverifiedIssuer(token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", false
	}
	return c.Issuer, c.Issuer != ""
}
