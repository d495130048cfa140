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
func (in *PackageRevision) DeepCopy() *PackageRevision {
	if in == nil {
		return nil
	}
	out := new(PackageRevision)
	deepCopyJSON(in, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *PackageRevision) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *PackageRevisionList) DeepCopy() *PackageRevisionList {
	if in == nil {
		return nil
	}
	out := new(PackageRevisionList)
	deepCopyJSON(in, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *PackageRevisionList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *PackageRevisionResources) DeepCopy() *PackageRevisionResources {
	if in == nil {
		return nil
	}
	out := new(PackageRevisionResources)
	deepCopyJSON(in, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *PackageRevisionResources) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopy returns a deep copy.
func (in *PackageRevisionResourcesList) DeepCopy() *PackageRevisionResourcesList {
	if in == nil {
		return nil
	}
	out := new(PackageRevisionResourcesList)
	deepCopyJSON(in, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *PackageRevisionResourcesList) DeepCopyObject() runtime.Object { return in.DeepCopy() }
