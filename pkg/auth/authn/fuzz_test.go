package authn

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseTokenFile: any bytes parse or fail without panicking; every
// parsed user has a name, and no group is empty.
func FuzzParseTokenFile(f *testing.F) {
	for _, s := range []string{
		"t1,alice,1\n",
		"# c\nt1,alice,1,\"a,b\"\nt2,bob,2,c\n",
		"t1,\"al\"\"ice\",1\n",
		",,,\n",
		"t1,alice\n",
		"\"unterminated\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseTokenFile(data)
		if err != nil {
			return
		}
		for _, u := range m {
			if strings.TrimSpace(u.Name) == "" {
				t.Fatalf("user without a name from %q", data)
			}
			for _, g := range u.Groups {
				if strings.TrimSpace(g) == "" {
					t.Fatalf("empty group from %q", data)
				}
			}
		}
	})
}

// FuzzAuthorization: the Authorization header parsers never panic, accept
// only one credential word, and Basic never yields a user for a password
// the token authenticator does not know.
func FuzzAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "Basic dXNlcjp0b2stYWxpY2U=", "Basic Og==", "bearer", "Basic !!", "Bearer a b", "  Bearer  x  "} {
		f.Add(s)
	}
	chain := &Chain{Authenticators: []Request{Bearer(staticTokens{}), Basic(staticTokens{})}}
	f.Fuzz(func(t *testing.T, v string) {
		scheme, cred, ok := ParseAuthorization(v)
		if ok && (scheme == "" || cred == "" || strings.ContainsAny(cred, " \t\r\n") || scheme != strings.ToLower(scheme)) {
			t.Fatalf("ParseAuthorization(%q) = %q, %q", v, scheme, cred)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{v}
		u, err := chain.Authenticate(r)
		if err == nil && u.GetName() != "system:anonymous" && !strings.Contains(v, "tok-") && scheme == "bearer" {
			t.Fatalf("%q authenticated as %q", v, u.GetName())
		}
	})
}
