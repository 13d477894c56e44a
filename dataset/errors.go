package dataset

import (
	"fmt"
	"strings"
)

// Error is one problem in a dataset file: a bad row, a bad header, or a file-level problem (Line 0).
type Error struct {
	// File is the name of the file (or upload) being read.
	File string
	// Line is the 1-based line number of the row; 0 for file-level problems.
	Line int
	// Field is the column or JSON key at fault; empty when the problem is not about one field.
	Field string
	// Msg says what is wrong, lowercase, without a trailing period.
	Msg string
}

// Error formats as `file:line: field "name": reason`, leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every bad row of one file, in line order. It is returned when more than one row is bad; a single
// problem is returned as a plain *Error.
type Errors []*Error

// maxShown is how many errors Errors.Error spells out before summarizing the rest (all stay in the slice).
const maxShown = 20

// Error lists the first problems one per line and counts the rest.
func (es Errors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad rows:", len(es))
	for i, e := range es {
		if i == maxShown {
			fmt.Fprintf(&b, "\n  ... and %d more", len(es)-maxShown)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns every *Error so errors.As(err, &*Error) finds the first one.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// collector gathers row errors; err returns nil, the single *Error, or Errors.
type collector struct {
	list Errors
}

func (c *collector) add(e *Error) { c.list = append(c.list, e) }

func (c *collector) err() error {
	switch len(c.list) {
	case 0:
		return nil
	case 1:
		return c.list[0]
	default:
		return c.list
	}
}
