package v1alpha1

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/runtime"
)

// deepCopyJSON copies in into out through JSON. The types are plain data, so
// this is exact; it trades speed for having no generated code to keep in step.
func deepCopyJSON(in, out any) {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
}

// DeepCopy returns a deep copy.
func (in *Repository) DeepCopy() *Repository {
	if in == nil {
		return nil
	}
	out := new(Repository)
	deepCopyJSON(in, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Repository) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *RepositoryList) DeepCopy() *RepositoryList {
	if in == nil {
		return nil
	}
	out := new(RepositoryList)
	deepCopyJSON(in, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *RepositoryList) DeepCopyObject() runtime.Object { return in.DeepCopy() }
