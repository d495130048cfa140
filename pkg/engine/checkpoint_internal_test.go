package engine

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzCheckpoint feeds damaged checkpoints, with a checksum that matches,
// to the reader: it refuses them or restores them, and never panics or
// allocates what the file does not hold.
func FuzzCheckpoint(f *testing.F) {
	for _, n := range []int{0, 6} {
		x := fillIndex(n)
		var buf bytes.Buffer
		if err := x.snapshotCheckpoint().writeTo(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes()[:buf.Len()-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		_ = restoreAny(data)
	})
}
