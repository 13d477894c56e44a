package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadOK(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		data     string
		opts     Options
		format   string
		rows     []Row
		labels   []string
		counts   map[string]int
		hasPair  bool
		wantText []string
	}{
		{
			name:   "jsonl string labels",
			file:   "a.jsonl",
			data:   "{\"text\":\"good film\",\"label\":\"pos\"}\n\n{\"text\":\"bad\",\"label\":\"neg\"}\n",
			format: FormatJSONL,
			rows:   []Row{{Line: 1, Text: "good film", Label: "pos"}, {Line: 3, Text: "bad", Label: "neg"}},
			labels: []string{"neg", "pos"},
			counts: map[string]int{"neg": 1, "pos": 1},
		},
		{
			name:   "jsonl integer labels sort numerically",
			file:   "a.jsonl",
			data:   `{"text":"a","label":10}` + "\n" + `{"text":"b","label":2}` + "\n" + `{"text":"c","label":2.0}`,
			format: FormatJSONL,
			rows:   []Row{{Line: 1, Text: "a", Label: "10"}, {Line: 2, Text: "b", Label: "2"}, {Line: 3, Text: "c", Label: "2"}},
			labels: []string{"2", "10"},
			counts: map[string]int{"2": 2, "10": 1},
		},
		{
			name:    "jsonl text pair and alternative keys",
			file:    "a.ndjson",
			data:    `{"sentence":"q","text_pair":"p","target":"yes"}`,
			format:  FormatJSONL,
			rows:    []Row{{Line: 1, Text: "q", TextPair: "p", Label: "yes"}},
			labels:  []string{"yes"},
			counts:  map[string]int{"yes": 1},
			hasPair: true,
		},
		{
			name:   "jsonl without labels",
			file:   "in.jsonl",
			data:   `{"text":"only text"}`,
			format: FormatJSONL,
			rows:   []Row{{Line: 1, Text: "only text"}},
			labels: []string{},
			counts: map[string]int{},
		},
		{
			name:   "tsv no quoting, trailing space kept, CRLF",
			file:   "train.tsv",
			data:   "sentence\tlabel\r\n\"quoted start \t1\r\nplain \t0\r\n\r\n",
			format: FormatTSV,
			rows:   []Row{{Line: 2, Text: "\"quoted start ", Label: "1"}, {Line: 3, Text: "plain ", Label: "0"}},
			labels: []string{"0", "1"},
			counts: map[string]int{"0": 1, "1": 1},
		},
		{
			name:   "tsv trec layout",
			file:   "trec.tsv",
			data:   "label\tfine_label\ttext\nNUM\tdist\tHow far ?\nLOC\tcity\tWhere ?",
			format: FormatTSV,
			rows:   []Row{{Line: 2, Text: "How far ?", Label: "NUM"}, {Line: 3, Text: "Where ?", Label: "LOC"}},
			labels: []string{"LOC", "NUM"},
			counts: map[string]int{"LOC": 1, "NUM": 1},
		},
		{
			name:   "tsv explicit columns",
			file:   "x.tsv",
			data:   "id\tbody\ty\n1\thello\tA\n",
			opts:   Options{TextColumn: "body", LabelColumn: "y"},
			format: FormatTSV,
			rows:   []Row{{Line: 2, Text: "hello", Label: "A"}},
			labels: []string{"A"},
			counts: map[string]int{"A": 1},
		},
		{
			name:   "csv quoted multiline",
			file:   "d.csv",
			data:   "Review,Class\n\"hello, \"\"world\"\"\",pos\n\"two\nlines\",neg\n",
			format: FormatCSV,
			rows:   []Row{{Line: 2, Text: "hello, \"world\"", Label: "pos"}, {Line: 3, Text: "two\nlines", Label: "neg"}},
			labels: []string{"neg", "pos"},
			counts: map[string]int{"neg": 1, "pos": 1},
		},
		{
			name:   "sniffed csv with BOM",
			file:   "upload",
			data:   "\ufefftext,label\nhi,1\n",
			format: FormatCSV,
			rows:   []Row{{Line: 2, Text: "hi", Label: "1"}},
			labels: []string{"1"},
			counts: map[string]int{"1": 1},
		},
		{
			name:   "sniffed tsv",
			file:   "upload",
			data:   "text\tlabel\nhi, there\t1\n",
			format: FormatTSV,
			rows:   []Row{{Line: 2, Text: "hi, there", Label: "1"}},
			labels: []string{"1"},
			counts: map[string]int{"1": 1},
		},
		{
			name:   "sniffed jsonl",
			file:   "upload",
			data:   "  {\"text\":\"x\",\"label\":\"a\"}\n",
			format: FormatJSONL,
			rows:   []Row{{Line: 1, Text: "x", Label: "a"}},
			labels: []string{"a"},
			counts: map[string]int{"a": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := Read(strings.NewReader(tt.data), tt.file, tt.opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if ds.Format != tt.format {
				t.Errorf("format = %q, want %q", ds.Format, tt.format)
			}
			if !reflect.DeepEqual(ds.Rows, tt.rows) {
				t.Errorf("rows = %#v\nwant %#v", ds.Rows, tt.rows)
			}
			if !reflect.DeepEqual(ds.Labels, tt.labels) {
				t.Errorf("labels = %#v, want %#v", ds.Labels, tt.labels)
			}
			if !reflect.DeepEqual(ds.Counts, tt.counts) {
				t.Errorf("counts = %v, want %v", ds.Counts, tt.counts)
			}
			if ds.HasPair != tt.hasPair {
				t.Errorf("HasPair = %v, want %v", ds.HasPair, tt.hasPair)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		data string
		opts Options
		// want are the exact error strings of every reported problem, in order.
		want []string
	}{
		{
			name: "empty file",
			file: "e.jsonl",
			data: "",
			want: []string{"e.jsonl: empty dataset: no rows"},
		},
		{
			name: "row over the per-row limit",
			file: "big.jsonl",
			data: `{"text":"short","label":"a"}` + "\n" + `{"text":"` + strings.Repeat("x", 2000) + `","label":"b"}` + "\n",
			opts: Options{MaxRowBytes: 1000},
			want: []string{`big.jsonl:2: field "text": 2000 bytes of text, more than the limit of 1000 per row (a model reads at most max_seq_length tokens of it: shorten or split the text)`},
		},
		{
			name: "header only",
			file: "e.tsv",
			data: "sentence\tlabel\n",
			want: []string{"e.tsv: empty dataset: no rows"},
		},
		{
			name: "row without text jsonl",
			file: "t.jsonl",
			data: `{"text":"ok","label":"a"}` + "\n" + `{"label":"a"}` + "\n" + `{"text":"  ","label":"b"}`,
			want: []string{`t.jsonl:2: field "text": missing text`, `t.jsonl:3: field "text": missing text`},
		},
		{
			name: "row without text tsv",
			file: "t.tsv",
			data: "sentence\tlabel\n\t1\nfine\t0\n",
			want: []string{`t.tsv:2: field "sentence": missing text`},
		},
		{
			name: "missing label required",
			file: "train.jsonl",
			data: `{"text":"x","label":"a"}` + "\n" + `{"text":"y"}`,
			opts: Options{RequireLabel: true},
			want: []string{`train.jsonl:2: field "label": missing label`},
		},
		{
			name: "bad label types",
			file: "l.jsonl",
			data: `{"text":"x","label":1.5}` + "\n" + `{"text":"y","label":[1]}` + "\n" + `{"text":"z","label":true}`,
			want: []string{
				`l.jsonl:1: field "label": must be a string or an integer, got 1.5`,
				`l.jsonl:2: field "label": must be a string or an integer, got an array`,
				`l.jsonl:3: field "label": must be a string or an integer, got a boolean`,
			},
		},
		{
			name: "text not a string",
			file: "n.jsonl",
			data: `{"text":5,"label":"a"}`,
			want: []string{`n.jsonl:1: field "text": must be a string, got a number`},
		},
		{
			name: "invalid json",
			file: "j.jsonl",
			data: "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\": oops}\n[1]\n",
			want: []string{
				`j.jsonl:2: invalid JSON: invalid character 'o' looking for beginning of value`,
				`j.jsonl:3: invalid JSON: json: cannot unmarshal array into Go value of type map[string]interface {}`,
			},
		},
		{
			name: "tsv too few fields",
			file: "f.tsv",
			data: "sentence\tlabel\nno tab here\nok\t1\n",
			want: []string{`f.tsv:2: has 1 tab-separated fields, the header needs at least 2`},
		},
		{
			name: "no text column",
			file: "h.csv",
			data: "foo,label\nx,1\n",
			want: []string{`h.csv:1: no text column (looked for ["text", "sentence", "text_a", "content", "review"]; set one explicitly); header has ["foo", "label"]`},
		},
		{
			name: "explicit label column missing",
			file: "h.tsv",
			data: "text\tlabel\nx\t1\n",
			opts: Options{LabelColumn: "y"},
			want: []string{`h.tsv:1: field "y": label column not found; header has ["text", "label"]`},
		},
		{
			name: "label column required",
			file: "h.tsv",
			data: "text\tother\nx\t1\n",
			opts: Options{RequireLabel: true},
			want: []string{`h.tsv:1: no label column (looked for ["label", "labels", "target", "class"]; set one explicitly); header has ["text", "other"]`},
		},
		{
			name: "malformed csv quote",
			file: "q.csv",
			data: "text,label\n\"a\"b,1\n",
			want: []string{`q.csv:2: malformed CSV: extraneous or missing " in quoted-field`},
		},
		{
			name: "invalid utf8",
			file: "u.tsv",
			data: "text\tlabel\n\xff\xfe\t1\n",
			want: []string{`u.tsv:2: field "text": invalid UTF-8`},
		},
		{
			name: "size cap",
			file: "big.tsv",
			data: "text\tlabel\n" + strings.Repeat("aaaaaaaaa\t1\n", 100),
			opts: Options{MaxBytes: 200},
			want: []string{`big.tsv:17: input exceeds the 200-byte limit`},
		},
		{
			name: "unknown forced format",
			file: "x",
			data: "text\n",
			opts: Options{Format: "xml"},
			want: []string{`x: unknown format "xml" (want jsonl, csv or tsv)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := Read(strings.NewReader(tt.data), tt.file, tt.opts)
			if err == nil {
				t.Fatalf("Read succeeded with %d rows, want errors %q", len(ds.Rows), tt.want)
			}
			var got []string
			var list Errors
			var one *Error
			switch {
			case errors.As(err, &list):
				for _, e := range list {
					got = append(got, e.Error())
				}
			case errors.As(err, &one):
				got = []string{one.Error()}
			default:
				t.Fatalf("error %T %q is not a *dataset.Error", err, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors =\n  %q\nwant\n  %q", got, tt.want)
			}
			if !errors.As(err, &one) {
				t.Errorf("errors.As(*Error) failed on %T", err)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "train.jsonl")
	if err := os.WriteFile(p, []byte(`{"text":"a","label":"x"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := ReadFile(p, Options{RequireLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.File != p || len(ds.Rows) != 1 || ds.Texts()[0] != "a" || ds.TextPairs() != nil {
		t.Fatalf("unexpected dataset %+v", ds)
	}
	_, err = ReadFile(filepath.Join(dir, "nope.tsv"), Options{})
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "nope.tsv: cannot open: no such file or directory") {
		t.Fatalf("missing file error = %v", err)
	}
}

func TestErrorsMessageTruncates(t *testing.T) {
	var b strings.Builder
	b.WriteString("text\tlabel\n")
	for range 30 {
		b.WriteString("\t1\n")
	}
	_, err := Read(strings.NewReader(b.String()), "many.tsv", Options{})
	var list Errors
	if !errors.As(err, &list) || len(list) != 30 {
		t.Fatalf("want 30 errors, got %v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "30 bad rows:") || !strings.Contains(msg, "... and 10 more") {
		t.Fatalf("message = %q", msg)
	}
}

func TestSortLabels(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"10", "2", "-1"}, []string{"-1", "2", "10"}},
		{[]string{"b", "10", "a"}, []string{"10", "a", "b"}},
		{[]string{}, []string{}},
	}
	for _, tt := range tests {
		SortLabels(tt.in)
		if !reflect.DeepEqual(tt.in, tt.want) {
			t.Errorf("got %v, want %v", tt.in, tt.want)
		}
	}
}
