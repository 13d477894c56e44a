package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FormatRows is whet's normalised rows format (Dataset.Format of a file written by WriteRows): a dataset already
// read and checked, kept with the name and line numbers of the file it came from. The server stores an upload's
// rows in it once, and its trainers read them from there, so their errors name the user's file and line.
const FormatRows = "rows"

// rowsMagic starts the first line of a rows file; Read recognises the format by it, whatever the file's name.
const rowsMagic = `{"whet_rows":`

// rowsHeader is the first line of a rows file.
type rowsHeader struct {
	// Version is 1.
	Version int `json:"whet_rows"`
	// File is the name the rows' errors give (Dataset.File when read back): the user's file.
	File string `json:"file"`
	// HasPair is Dataset.HasPair.
	HasPair bool `json:"has_pair,omitempty"`
}

// rowLine is one row of a rows file.
type rowLine struct {
	Line     int    `json:"line"`
	Text     string `json:"text"`
	TextPair string `json:"text_pair,omitempty"`
	Label    string `json:"label,omitempty"`
}

// WriteRows writes ds in FormatRows: a header line naming the data as name (what errors about its rows will call
// it, e.g. "file[file-abc] train.csv"), then one JSON line per row with its text, text pair, label and line in the
// original file. Reading the result back gives ds's rows, in order, with their lines.
func WriteRows(w io.Writer, ds *Dataset, name string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rowsHeader{Version: 1, File: name, HasPair: ds.HasPair}); err != nil {
		return err
	}
	for _, r := range ds.Rows {
		if err := enc.Encode(rowLine{Line: r.Line, Text: r.Text, TextPair: r.TextPair, Label: r.Label}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// isRows reports whether the input starts with a rows header.
func isRows(br *bufio.Reader) bool {
	head, _ := br.Peek(len(rowsMagic))
	return bytes.Equal(head, []byte(rowsMagic))
}

// readRows reads a rows file: rows keep their original lines, and errors (a row the options refuse) name the
// original file. A malformed line of the rows file itself names the rows file and its own line.
func (rd *reader) readRows(br *bufio.Reader, ds *Dataset) error {
	stored := rd.name
	first, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return rd.readErr(1, err)
	}
	var h rowsHeader
	if err := json.Unmarshal([]byte(first), &h); err != nil || h.Version != 1 || h.File == "" {
		return &Error{File: stored, Line: 1, Msg: "not a whet rows file (bad header)"}
	}
	rd.name, ds.File, ds.HasPair = h.File, h.File, h.HasPair
	c := columns{text: "text", label: "label", ti: 0, pi: -1, li: 2}
	if h.HasPair {
		c.pair, c.pi = "text_pair", 1
	}
	for n := 2; ; n++ {
		s, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return rd.readErr(n, err)
		}
		if strings.TrimSpace(s) != "" {
			var r rowLine
			if jerr := json.Unmarshal([]byte(s), &r); jerr != nil || r.Line < 1 {
				return &Error{File: stored, Line: n, Msg: fmt.Sprintf("corrupt rows file: bad row (%v)", jerr)}
			}
			rd.addRow(ds, r.Line, c, r.Text, r.TextPair, r.Label, r.Label != "")
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}
