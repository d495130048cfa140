package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

type item int

func (i item) AppendJSON(b []byte) []byte {
	return append(append(append(b, `{"n":`...), strconv.Itoa(int(i))...), '}')
}

type failAfter struct {
	n   int
	buf bytes.Buffer
}

var errGone = errors.New("client gone")

func (f *failAfter) Write(b []byte) (int, error) {
	if f.n == 0 {
		return 0, errGone
	}
	f.n--
	return f.buf.Write(b)
}

// TestWriteItems: lists short and long (encoded and written on two
// goroutines) come out whole and in order; a client that leaves stops the
// encoding.
func TestWriteItems(t *testing.T) {
	for _, n := range []int{0, 1, 999, 1000, 100000} {
		items := make([]item, n)
		for i := range items {
			items[i] = item(i)
		}
		var out bytes.Buffer
		if err := writeItems(&out, items); err != nil {
			t.Fatal(err)
		}
		var got []struct{ N int }
		if err := json.Unmarshal(append(append([]byte("["), out.Bytes()...), ']'), &got); err != nil {
			t.Fatalf("%d items: %v", n, err)
		}
		if len(got) != n {
			t.Fatalf("%d items written, want %d", len(got), n)
		}
		for i, g := range got {
			if g.N != i {
				t.Fatalf("item %d is %d", i, g.N)
			}
		}
	}
	items := make([]item, 200000)
	w := &failAfter{n: 1}
	if err := writeItems(w, items); !errors.Is(err, errGone) {
		t.Fatalf("a client that left: %v", err)
	}
}
