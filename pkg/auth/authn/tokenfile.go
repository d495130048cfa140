package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/internal/reload"
)

// TokenFile authenticates static bearer tokens from a file in
// kube-apiserver's --token-auth-file format. The file is read again when it
// changes, so tokens are added and revoked without a restart.
type TokenFile struct {
	files *reload.Files[tokenMap]
}

// tokenMap is keyed by the SHA-256 of the token, so lookups do not compare
// secrets byte by byte.
type tokenMap map[[sha256.Size]byte]*user.DefaultInfo

// NewTokenFile loads the token file at path.
func NewTokenFile(path string, log *slog.Logger) (*TokenFile, error) {
	f, err := reload.New(func(data [][]byte) (tokenMap, error) { return ParseTokenFile(data[0]) }, []string{path}, reload.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("--token-auth-file: %w", err)
	}
	return &TokenFile{files: f}, nil
}

// ParseTokenFile parses CSV lines `token,user,uid[,"group1,group2"]`. Lines
// starting with # and empty lines are skipped. A line without a token or a
// user, or a token given twice, is an error naming the line.
func ParseTokenFile(data []byte) (tokenMap, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.Comment = '#'
	out := tokenMap{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) < 3 {
			return nil, fmt.Errorf("token file: line %d: want token,user,uid[,groups], got %d fields", line, len(rec))
		}
		token, name := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if token == "" || name == "" {
			return nil, fmt.Errorf("token file: line %d: the token and the user name must not be empty", line)
		}
		u := &user.DefaultInfo{Name: name, UID: strings.TrimSpace(rec[2])}
		if len(rec) > 3 {
			for g := range strings.SplitSeq(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		key := sha256.Sum256([]byte(token))
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("token file: line %d: a token of user %q is given twice", line, name)
		}
		out[key] = u
	}
}

// AuthenticateToken implements Token.
func (f *TokenFile) AuthenticateToken(_ context.Context, token string) (user.Info, bool, error) {
	u, ok := f.files.Get()[sha256.Sum256([]byte(token))]
	if !ok {
		return nil, false, nil
	}
	return u, true, nil
}
