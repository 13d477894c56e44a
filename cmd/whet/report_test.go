package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteReport(t *testing.T) {
	doc := `{"accuracy":0.75,"macro_precision":0.7,"macro_recall":0.8,"macro_f1":0.72,"support":8,
	"labels":["ham","spam"],"per_class":{"ham":{"precision":1,"recall":0.6,"f1":0.75,"support":5},
	"spam":{"precision":0.4,"recall":1,"f1":0.5714,"support":3}},"confusion_matrix":[[3,2],[0,3]]}`
	var b bytes.Buffer
	if err := writeReport(&b, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"ham     1.0000  0.6000  0.7500        5", "accuracy", "0.7500        8", "spam    0     3"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if err := writeReport(&b, []byte("{")); err == nil {
		t.Error("a broken document must be an error")
	}
}
