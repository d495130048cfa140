package names

import (
	"strconv"
	"strings"
)

// Tags of revisions in a package's OCI repository (product.md, "OCI format").
// Draft tags start with "ws." and deletion markers end in ".deletion-proposed",
// so neither can ever collide with "vN" or "latest".
const (
	// LatestTag points at the newest published revision.
	LatestTag = "latest"
	// WorkspaceTagPrefix starts the tag of a draft or proposed revision.
	WorkspaceTagPrefix = "ws."
	// DeletionTagSuffix ends the marker tag of a revision proposed for deletion.
	DeletionTagSuffix = ".deletion-proposed"
	// DeletedTagSuffix ends the tombstone tag "vN.deleted" left when published
	// revision N is deleted, so N is never given to other contents.
	DeletedTagSuffix = ".deleted"
)

// RevisionTag returns the tag "vN" of published revision n; n must be >= 1.
func RevisionTag(n int) string { return "v" + strconv.Itoa(n) }

// ParseRevision parses a revision tag. It accepts exactly "v" followed by a
// positive decimal without leading zeros that fits an int, so that each
// revision has exactly one tag.
func ParseRevision(s string) (int, bool) {
	digits, ok := strings.CutPrefix(s, "v")
	if !ok || digits == "" || digits[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return 0, false
	}
	return n, true
}

// WorkspaceTag returns the tag of the draft or proposed revision in workspace ws.
func WorkspaceTag(ws string) string { return WorkspaceTagPrefix + ws }

// ParseWorkspaceTag returns the workspace of a draft tag; it fails unless the
// workspace is valid.
func ParseWorkspaceTag(tag string) (string, bool) {
	ws, ok := strings.CutPrefix(tag, WorkspaceTagPrefix)
	if !ok || ValidateWorkspace(ws) != nil {
		return "", false
	}
	return ws, true
}

// DeletionTag returns the marker tag "vN.deletion-proposed" of published
// revision n while it is proposed for deletion; n must be >= 1.
func DeletionTag(n int) string { return RevisionTag(n) + DeletionTagSuffix }

// ParseDeletionTag returns the revision number of a deletion marker tag.
func ParseDeletionTag(tag string) (int, bool) {
	rev, ok := strings.CutSuffix(tag, DeletionTagSuffix)
	if !ok {
		return 0, false
	}
	return ParseRevision(rev)
}

// DeletedTag returns the tombstone tag "vN.deleted" of a deleted revision N.
func DeletedTag(n int) string { return RevisionTag(n) + DeletedTagSuffix }

// ParseDeletedTag returns the revision number of a tombstone tag.
func ParseDeletedTag(tag string) (int, bool) {
	rev, ok := strings.CutSuffix(tag, DeletedTagSuffix)
	if !ok {
		return 0, false
	}
	return ParseRevision(rev)
}
