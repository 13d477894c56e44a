package tail

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferKeepsTheTail(t *testing.T) {
	tests := []struct {
		name        string
		max         int
		writes      []string
		wantKept    string
		wantDropped int64
	}{
		{"fits", 10, []string{"abc", "def"}, "abcdef", 0},
		{"many small writes", 4, []string{"ab", "cd", "ef", "gh", "ij"}, "ghij", 6},
		{"one big write", 3, []string{"abcdefg"}, "efg", 4},
		{"keeps nothing", 0, []string{"abc"}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Buffer{Max: tt.max}
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			kept, dropped := b.Tail()
			if string(kept) != tt.wantKept || dropped != tt.wantDropped {
				t.Fatalf("Tail() = %q, %d; want %q, %d", kept, dropped, tt.wantKept, tt.wantDropped)
			}
			b.Reset()
			if kept, dropped := b.Tail(); len(kept) != 0 || dropped != 0 {
				t.Fatalf("after Reset: %q, %d", kept, dropped)
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	b := &Buffer{Max: 1 << 10}
	b.Write([]byte("one\n\n two \nthree\nfour\n\n"))
	if got := strings.Join(b.LastLines(3), "|"); got != "two|three|four" {
		t.Fatalf("LastLines(3) = %q", got)
	}
	if got := strings.Join(b.LastLines(1), "|"); got != "four" {
		t.Fatalf("LastLines(1) = %q", got)
	}
	if got := (&Buffer{Max: 8}).LastLines(2); len(got) != 0 {
		t.Fatalf("empty buffer: %q", got)
	}
}

func TestBufferHammer(t *testing.T) {
	b := &Buffer{Max: 64}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				b.Write([]byte("xxxxxxxxxx\n"))
				b.LastLines(2)
			}
		}()
	}
	wg.Wait()
	if kept, dropped := b.Tail(); len(kept) != 64 || dropped != 8*1000*11-64 {
		t.Fatalf("kept %d bytes, dropped %d", len(kept), dropped)
	}
}
