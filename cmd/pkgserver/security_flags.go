package main

import (
	"flag"
	"strings"

	"pkgserver.dev/pkgserver/pkg/server"
)

// securityFlags defines the flags of server.Security, named as kube-apiserver
// names them (docs/security.md).
func securityFlags(fs *flag.FlagSet, s *server.Security) {
	fs.StringVar(&s.TLSCertFile, "tls-cert-file", "", "PEM certificate (chain) to serve HTTPS with; read again when it changes")
	fs.StringVar(&s.TLSPrivateKeyFile, "tls-private-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&s.ClientCAFile, "client-ca-file", "", "CA bundle of client certificates: CN is the user, O the groups")
	fs.StringVar(&s.TokenAuthFile, "token-auth-file", "", `static bearer tokens, CSV lines token,user,uid,"group1,group2"; read again when it changes`)
	fs.StringVar(&s.OIDC.IssuerURL, "oidc-issuer-url", "", "https URL of the OpenID Connect issuer whose ID tokens are accepted")
	fs.StringVar(&s.OIDC.ClientID, "oidc-client-id", "", "client ID that must be in the audience of OIDC tokens")
	fs.StringVar(&s.OIDC.UsernameClaim, "oidc-username-claim", "sub", "OIDC claim naming the user")
	fs.StringVar(&s.OIDC.UsernamePrefix, "oidc-username-prefix", "", `prefix of OIDC user names (default: the issuer URL and "#" unless the claim is email; "-" for none)`)
	fs.StringVar(&s.OIDC.GroupsClaim, "oidc-groups-claim", "", "OIDC claim listing the user's groups")
	fs.StringVar(&s.OIDC.GroupsPrefix, "oidc-groups-prefix", "", "prefix of OIDC group names")
	fs.StringVar(&s.OIDC.CAFile, "oidc-ca-file", "", "CA bundle to verify the OIDC issuer with (default: the system's)")
	fs.StringVar(&s.RequestHeader.ClientCAFile, "requestheader-client-ca-file", "", "CA bundle of the front proxy's client certificate; identity headers are believed only from it")
	fs.Var(list(&s.RequestHeader.AllowedNames), "requestheader-allowed-names", "common names the front proxy's certificate may have (default: any)")
	fs.Var(list(&s.RequestHeader.UsernameHeaders), "requestheader-username-headers", "headers naming the user, from the front proxy (default X-Remote-User)")
	fs.Var(list(&s.RequestHeader.GroupHeaders), "requestheader-group-headers", "headers naming groups, from the front proxy (default X-Remote-Group)")
	fs.Var(list(&s.RequestHeader.ExtraHeaderPrefixes), "requestheader-extra-headers-prefix", "prefixes of headers carrying extra user fields (default X-Remote-Extra-)")
	fs.BoolVar(&s.AnonymousAuth, "anonymous-auth", false, "let requests without credentials in as system:anonymous (still subject to authorization)")
	fs.StringVar(&s.AuthorizationPolicyFile, "authorization-policy-file", "", "rbac.authorization.k8s.io/v1 Roles, ClusterRoles and bindings; read again when it changes (default: everything allowed)")
	fs.StringVar(&s.AuditLogPath, "audit-log-path", "", `append audit.k8s.io/v1 Events (JSON lines) of every change and denial here ("-": standard output)`)
	fs.Var(list(&s.AllowedRegistries), "allowed-registries", "host patterns (host, host:port, *.domain) a Repository's spec.oci.registry may name (default: any)")
	fs.StringVar(&s.RegistryCredentialsFile, "registry-credentials-file", "", "named registry credentials that Repositories choose with spec.oci.secretRef; read again when it changes")
	fs.BoolVar(&s.RegistryDockerCredentials, "registry-docker-credentials", false, "Repositories without spec.oci.secretRef use the server's Docker config and credential helpers")
	fs.StringVar(&s.RegistryTokenKeyFile, "registry-token-key-file", "", "key (at least 32 bytes) signing /v2/ tokens; replicas share it (default: random per process)")
}

// stringList is a comma-separated, repeatable flag.
type stringList struct{ v *[]string }

func list(v *[]string) flag.Value { return stringList{v} }

func (l stringList) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l stringList) Set(s string) error {
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}
