package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxBytes is the size cap applied when Options.MaxBytes is zero: 1 GiB.
const DefaultMaxBytes int64 = 1 << 30

// DefaultMaxRowBytes is the per-row cap applied when Options.MaxRowBytes is zero: 1 MiB of text (and text pair) in
// one row, far more than a model's max_seq_length tokens take, far less than what would exhaust a trainer's memory.
const DefaultMaxRowBytes = 1 << 20

// Format names, as found in Dataset.Format and accepted in Options.Format.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
	FormatTSV   = "tsv"
)

// Column (and JSON key) names tried in order when Options does not name one. Matching is case-insensitive. Each
// call returns a fresh slice.

// TextColumns returns the names tried for the text.
func TextColumns() []string { return []string{"text", "sentence", "text_a", "content", "review"} }

// TextPairColumns returns the names tried for the optional second text.
func TextPairColumns() []string { return []string{"text_pair", "text_b"} }

// LabelColumns returns the names tried for the label.
func LabelColumns() []string { return []string{"label", "labels", "target", "class"} }

// Options says how to read a file. The zero value finds columns by name, accepts rows without labels and caps the
// input at DefaultMaxBytes.
type Options struct {
	// TextColumn names the text column (or JSON key). Default: the first of TextColumns present.
	TextColumn string
	// TextPairColumn names an optional second text column. Default: the first of TextPairColumns present, if any.
	TextPairColumn string
	// LabelColumn names the label column. Default: the first of LabelColumns present, if any.
	LabelColumn string
	// RequireLabel makes a missing label column, or an empty label in any row, an error. Default: false.
	RequireLabel bool
	// MaxBytes caps how many bytes are read; a larger input is an error. Default: DefaultMaxBytes.
	MaxBytes int64
	// MaxRowBytes caps one row's text plus text pair; a longer row is an error naming its line. Default:
	// DefaultMaxRowBytes.
	MaxRowBytes int
	// Format forces "jsonl", "csv" or "tsv". Default: from the file name's extension, else sniffed from the content.
	Format string
}

// Row is one example.
type Row struct {
	// Line is the 1-based line of the row in its file (for CSV, the line where the record starts).
	Line int
	// Text is the text, exactly as in the file.
	Text string
	// TextPair is the optional second text; empty when absent.
	TextPair string
	// Label is the label as a string (integers in canonical decimal form); empty when the row has none.
	Label string
}

// Dataset is a whole file, read and checked.
type Dataset struct {
	// File is the name the data was read under.
	File string
	// Format is "jsonl", "csv", "tsv" or "rows" (FormatRows).
	Format string
	// Rows holds every row in file order.
	Rows []Row
	// Labels is the sorted set of labels seen: numeric order if all are integers, else lexical.
	Labels []string
	// Counts maps each label to how many rows carry it.
	Counts map[string]int
	// HasPair reports whether a text-pair column was present.
	HasPair bool
}

// Texts returns the rows' texts in order.
func (d *Dataset) Texts() []string {
	out := make([]string, len(d.Rows))
	for i, r := range d.Rows {
		out[i] = r.Text
	}
	return out
}

// TextPairs returns the rows' second texts in order, or nil when the file has no pair column.
func (d *Dataset) TextPairs() []string {
	if !d.HasPair {
		return nil
	}
	out := make([]string, len(d.Rows))
	for i, r := range d.Rows {
		out[i] = r.TextPair
	}
	return out
}

// ReadFile reads and checks the dataset at path.
//
// # Errors
//
// A *Error (or Errors, for several bad rows) naming the file, line, field and reason: unreadable file, unknown
// format, missing header columns, a row without text, a bad label, a malformed line, an input over MaxBytes, or no
// rows at all.
func ReadFile(path string, opts Options) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot open: %v", unwrapPathError(err))}
	}
	defer f.Close()
	return Read(f, path, opts)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Read reads and checks a dataset from r; name is used in errors and, with its extension, to choose the format
// (an upload's file name). Errors are as for ReadFile.
func Read(r io.Reader, name string, opts Options) (*Dataset, error) {
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	lr := &limitReader{r: r, left: maxBytes}
	br := bufio.NewReaderSize(lr, 64<<10)
	// Drop a UTF-8 byte-order mark.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	format, err := FormatRows, error(nil)
	if opts.Format == "" && isRows(br) {
		// Rows written by WriteRows (FormatRows).
	} else if format, err = detectFormat(br, name, opts.Format); err != nil {
		return nil, err
	}
	rd := &reader{name: name, opts: opts, maxBytes: maxBytes}
	ds := &Dataset{File: name, Format: format}
	switch format {
	case FormatJSONL:
		err = rd.readJSONL(br, ds)
	case FormatTSV:
		err = rd.readTSV(br, ds)
	case FormatCSV:
		err = rd.readCSV(br, ds)
	case FormatRows:
		err = rd.readRows(br, ds)
	}
	if err != nil {
		return nil, err
	}
	if err := rd.errs.err(); err != nil {
		return nil, err
	}
	if len(ds.Rows) == 0 {
		return nil, &Error{File: ds.File, Msg: "empty dataset: no rows"}
	}
	ds.finish()
	return ds, nil
}

// errTooLarge is returned by limitReader once the cap is passed.
var errTooLarge = errors.New("input too large")

// limitReader fails with errTooLarge when more than left bytes are available.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

func detectFormat(br *bufio.Reader, name, forced string) (string, error) {
	switch strings.ToLower(forced) {
	case FormatJSONL, "json", "ndjson":
		return FormatJSONL, nil
	case FormatCSV:
		return FormatCSV, nil
	case FormatTSV:
		return FormatTSV, nil
	case "":
	default:
		return "", &Error{File: name, Msg: fmt.Sprintf("unknown format %q (want jsonl, csv or tsv)", forced)}
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL, nil
	case ".csv":
		return FormatCSV, nil
	case ".tsv", ".tab":
		return FormatTSV, nil
	}
	// Sniff: a JSON object first, else a tab in the header line means TSV, else CSV.
	head, _ := br.Peek(64 << 10)
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return FormatJSONL, nil
	}
	first := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		first = head[:i]
	}
	if bytes.IndexByte(first, '\t') >= 0 {
		return FormatTSV, nil
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return "", &Error{File: name, Msg: "empty dataset: no rows"}
	}
	return FormatCSV, nil
}

// reader holds the per-file state shared by the three formats.
type reader struct {
	name     string
	opts     Options
	maxBytes int64
	errs     collector
}

func (rd *reader) fail(line int, field, msg string) {
	rd.errs.add(&Error{File: rd.name, Line: line, Field: field, Msg: msg})
}

func (rd *reader) readErr(line int, err error) error {
	if errors.Is(err, errTooLarge) {
		return &Error{File: rd.name, Line: line, Msg: fmt.Sprintf("input exceeds the %d-byte limit", rd.maxBytes)}
	}
	return &Error{File: rd.name, Line: line, Msg: fmt.Sprintf("read: %v", err)}
}

// columns are the resolved positions (header formats) or keys (JSONL).
type columns struct {
	text, pair, label string // names as in the file
	ti, pi, li        int    // indexes into the header; -1 when absent
}

// resolve finds the text, pair and label columns in header.
func (rd *reader) resolve(header []string) (columns, error) {
	c := columns{ti: -1, pi: -1, li: -1}
	find := func(want string, candidates []string) (int, string) {
		if want != "" {
			candidates = []string{want}
		}
		for _, cand := range candidates {
			for i, h := range header {
				if strings.EqualFold(strings.TrimSpace(h), cand) {
					return i, h
				}
			}
		}
		return -1, ""
	}
	c.ti, c.text = find(rd.opts.TextColumn, TextColumns())
	c.pi, c.pair = find(rd.opts.TextPairColumn, TextPairColumns())
	c.li, c.label = find(rd.opts.LabelColumn, LabelColumns())
	have := fmt.Sprintf("header has %s", quoteList(header))
	if c.ti < 0 {
		if rd.opts.TextColumn != "" {
			return c, &Error{File: rd.name, Line: 1, Field: rd.opts.TextColumn, Msg: "text column not found; " + have}
		}
		return c, &Error{File: rd.name, Line: 1, Msg: fmt.Sprintf("no text column (looked for %s; set one explicitly); %s", quoteList(TextColumns()), have)}
	}
	if c.pi < 0 && rd.opts.TextPairColumn != "" {
		return c, &Error{File: rd.name, Line: 1, Field: rd.opts.TextPairColumn, Msg: "text pair column not found; " + have}
	}
	if c.li < 0 && (rd.opts.LabelColumn != "" || rd.opts.RequireLabel) {
		if rd.opts.LabelColumn != "" {
			return c, &Error{File: rd.name, Line: 1, Field: rd.opts.LabelColumn, Msg: "label column not found; " + have}
		}
		return c, &Error{File: rd.name, Line: 1, Msg: fmt.Sprintf("no label column (looked for %s; set one explicitly); %s", quoteList(LabelColumns()), have)}
	}
	if c.li >= 0 && c.li == c.ti {
		return c, &Error{File: rd.name, Line: 1, Field: c.label, Msg: "the same column is both text and label"}
	}
	return c, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// addRow checks one row's values and appends it.
func (rd *reader) addRow(ds *Dataset, line int, c columns, text, pair, label string, hasLabel bool) {
	ok := true
	switch {
	case !utf8.ValidString(text):
		rd.fail(line, c.text, "invalid UTF-8")
		ok = false
	case strings.TrimSpace(text) == "":
		rd.fail(line, c.text, "missing text")
		ok = false
	}
	if c.pi >= 0 && !utf8.ValidString(pair) {
		rd.fail(line, c.pair, "invalid UTF-8")
		ok = false
	}
	maxRow := rd.opts.MaxRowBytes
	if maxRow <= 0 {
		maxRow = DefaultMaxRowBytes
	}
	if n := len(text) + len(pair); n > maxRow {
		rd.fail(line, c.text, fmt.Sprintf("%d bytes of text, more than the limit of %d per row (a model reads at most "+
			"max_seq_length tokens of it: shorten or split the text)", n, maxRow))
		ok = false
	}
	label = strings.TrimSpace(label)
	if rd.opts.RequireLabel && (!hasLabel || label == "") {
		rd.fail(line, c.label, "missing label")
		ok = false
	} else if !utf8.ValidString(label) {
		rd.fail(line, c.label, "invalid UTF-8")
		ok = false
	}
	if ok {
		ds.Rows = append(ds.Rows, Row{Line: line, Text: text, TextPair: pair, Label: label})
	}
}

func (rd *reader) readTSV(br *bufio.Reader, ds *Dataset) error {
	var c columns
	headerDone := false
	err := rd.eachLine(br, func(line int, s string) error {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
		if !headerDone {
			var err error
			if c, err = rd.resolve(strings.Split(s, "\t")); err != nil {
				return err
			}
			ds.HasPair = c.pi >= 0
			headerDone = true
			return nil
		}
		if strings.TrimSpace(s) == "" {
			return nil // a blank line (often the last) is not a row
		}
		rd.recordRow(ds, line, c, strings.Split(s, "\t"), "tab")
		return nil
	})
	if err != nil {
		return err
	}
	if !headerDone {
		return &Error{File: rd.name, Msg: "empty dataset: no header"}
	}
	return nil
}

func (rd *reader) readCSV(br *bufio.Reader, ds *Dataset) error {
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{File: rd.name, Msg: "empty dataset: no header"}
		}
		return rd.csvErr(err)
	}
	header = append([]string(nil), header...)
	c, err := rd.resolve(header)
	if err != nil {
		return err
	}
	ds.HasPair = c.pi >= 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Quoting errors leave the reader out of step with the rows: stop at the first.
			return rd.csvErr(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		rd.recordRow(ds, line, c, rec, "comma")
	}
	return nil
}

// recordRow adds the row in the fields of a CSV or TSV record at line (sep names the separator: comma or tab).
func (rd *reader) recordRow(ds *Dataset, line int, c columns, fields []string, sep string) {
	if need := max(c.ti, c.pi, c.li) + 1; len(fields) < need {
		rd.fail(line, "", fmt.Sprintf("has %d %s-separated fields, the header needs at least %d", len(fields), sep, need))
		return
	}
	var pair, label string
	if c.pi >= 0 {
		pair = fields[c.pi]
	}
	if c.li >= 0 {
		label = fields[c.li]
	}
	rd.addRow(ds, line, c, fields[c.ti], pair, label, c.li >= 0)
}

func (rd *reader) csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, errTooLarge) {
			return rd.readErr(pe.Line, errTooLarge)
		}
		return &Error{File: rd.name, Line: pe.Line, Msg: fmt.Sprintf("malformed CSV: %v", pe.Err)}
	}
	return rd.readErr(0, err)
}

func (rd *reader) readJSONL(br *bufio.Reader, ds *Dataset) error {
	// For JSONL the "header" is the set of keys; resolution happens per row because rows may differ. Explicit
	// names are used as given; otherwise the candidates are tried on each object.
	sawPair := false
	err := rd.eachLine(br, func(line int, s string) error {
		if strings.TrimSpace(s) != "" && rd.jsonRow(ds, line, s) {
			sawPair = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	ds.HasPair = sawPair || rd.opts.TextPairColumn != ""
	return nil
}

// eachLine calls fn with each line of br (1-based number, text with its line ending) until the end or fn's first
// error; a read error is reported at the line it stopped.
func (rd *reader) eachLine(br *bufio.Reader, fn func(line int, s string) error) error {
	for line := 1; ; line++ {
		s, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return rd.readErr(line, err)
		}
		if s == "" && errors.Is(err, io.EOF) {
			return nil
		}
		if ferr := fn(line, s); ferr != nil {
			return ferr
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

// jsonRow parses one JSONL line; it reports whether the row had a text pair key.
func (rd *reader) jsonRow(ds *Dataset, line int, s string) bool {
	obj, msg := jsonObject(s)
	if msg != "" {
		rd.fail(line, "", msg)
		return false
	}
	c := rd.jsonColumns(obj)
	if c.ti < 0 {
		name := rd.opts.TextColumn
		if name == "" {
			name = "text"
		}
		rd.fail(line, name, "missing text")
		return false
	}
	text, ok := obj[c.text].(string)
	if !ok {
		if obj[c.text] == nil {
			rd.fail(line, c.text, "missing text")
		} else {
			rd.fail(line, c.text, fmt.Sprintf("must be a string, got %s", jsonKind(obj[c.text])))
		}
		return false
	}
	var pair string
	if c.pi >= 0 {
		switch v := obj[c.pair].(type) {
		case string:
			pair = v
		case nil:
		default:
			rd.fail(line, c.pair, fmt.Sprintf("must be a string, got %s", jsonKind(v)))
			return true
		}
	}
	if c.li < 0 && rd.opts.RequireLabel {
		name := rd.opts.LabelColumn
		if name == "" {
			name = "label"
		}
		c.label = name
	}
	label, hasLabel := "", false
	if c.li >= 0 {
		if label, hasLabel, msg = jsonLabel(obj[c.label]); msg != "" {
			rd.fail(line, c.label, msg)
			return c.pi >= 0
		}
	}
	rd.addRow(ds, line, c, text, pair, label, hasLabel)
	return c.pi >= 0
}

// jsonObject decodes a line holding one JSON object (numbers kept as json.Number), or says why it does not.
func jsonObject(s string) (map[string]any, string) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Sprintf("invalid JSON: %v", err)
	}
	if dec.More() {
		return nil, "invalid JSON: more than one value on the line"
	}
	if obj == nil {
		return nil, "not a JSON object"
	}
	return obj, ""
}

// jsonColumns finds the text, pair and label keys of obj (the options' names, else the usual ones, matched
// without case; in sorted key order); an index is -1 where there is none.
func (rd *reader) jsonColumns(obj map[string]any) columns {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c := columns{ti: -1, pi: -1, li: -1}
	find := func(want string, candidates []string) (string, int) {
		if want != "" {
			candidates = []string{want}
		}
		for _, cand := range candidates {
			for _, k := range keys {
				if strings.EqualFold(k, cand) {
					return k, 0
				}
			}
		}
		return "", -1
	}
	c.text, c.ti = find(rd.opts.TextColumn, TextColumns())
	c.pair, c.pi = find(rd.opts.TextPairColumn, TextPairColumns())
	c.label, c.li = find(rd.opts.LabelColumn, LabelColumns())
	return c
}

// jsonLabel reads a label value: a string, or an integer (also written as a float with no fraction); null is no
// label. A bad value returns why.
func jsonLabel(v any) (label string, ok bool, msg string) {
	switch v := v.(type) {
	case string:
		return v, true, ""
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			f, ferr := v.Float64()
			if ferr != nil || f != float64(int64(f)) {
				return "", false, fmt.Sprintf("must be a string or an integer, got %s", v.String())
			}
			n = int64(f)
		}
		return strconv.FormatInt(n, 10), true, ""
	case nil:
		return "", false, ""
	default:
		return "", false, fmt.Sprintf("must be a string or an integer, got %s", jsonKind(v))
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// finish computes Labels and Counts.
func (d *Dataset) finish() {
	d.Counts = map[string]int{}
	for _, r := range d.Rows {
		if r.Label != "" {
			d.Counts[r.Label]++
		}
	}
	d.Labels = make([]string, 0, len(d.Counts))
	for l := range d.Counts {
		d.Labels = append(d.Labels, l)
	}
	SortLabels(d.Labels)
}

// SortLabels sorts labels in place: numeric order if every label is an integer, else lexical.
func SortLabels(labels []string) {
	allInt := true
	nums := make(map[string]int64, len(labels))
	for _, l := range labels {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			allInt = false
			break
		}
		nums[l] = n
	}
	if allInt {
		sort.SliceStable(labels, func(i, j int) bool { return nums[labels[i]] < nums[labels[j]] })
		return
	}
	sort.Strings(labels)
}
