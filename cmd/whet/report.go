package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// metricsReport is the part of a metrics document (docs/contracts.md) that the human-readable report shows.
type metricsReport struct {
	Accuracy        float64  `json:"accuracy"`
	MacroPrecision  float64  `json:"macro_precision"`
	MacroRecall     float64  `json:"macro_recall"`
	MacroF1         float64  `json:"macro_f1"`
	WeightedF1      float64  `json:"weighted_f1"`
	Support         int      `json:"support"`
	Labels          []string `json:"labels"`
	ConfusionMatrix [][]int  `json:"confusion_matrix"`
	PerClass        map[string]struct {
		Precision float64 `json:"precision"`
		Recall    float64 `json:"recall"`
		F1        float64 `json:"f1"`
		Support   int     `json:"support"`
	} `json:"per_class"`
}

// writeReport prints a metrics document as a classification report (in the manner of scikit-learn's) followed
// by the confusion matrix, rows being the true labels.
func writeReport(w io.Writer, doc []byte) error {
	var r metricsReport
	if err := json.Unmarshal(doc, &r); err != nil {
		return fmt.Errorf("metrics document: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tprecision\trecall\tf1\tsupport\t")
	for _, l := range r.Labels {
		c := r.PerClass[l]
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%d\t\n", l, c.Precision, c.Recall, c.F1, c.Support)
	}
	fmt.Fprintf(tw, "macro avg\t%.4f\t%.4f\t%.4f\t%d\t\n", r.MacroPrecision, r.MacroRecall, r.MacroF1, r.Support)
	fmt.Fprintf(tw, "accuracy\t\t\t%.4f\t%d\t\n", r.Accuracy, r.Support)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.ConfusionMatrix) == len(r.Labels) && len(r.Labels) > 0 {
		fmt.Fprintln(w, "\nconfusion matrix (rows: true label, columns: predicted)")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\t"+strings.Join(r.Labels, "\t")+"\t")
		for i, row := range r.ConfusionMatrix {
			cells := make([]string, len(row))
			for j, n := range row {
				cells[j] = fmt.Sprint(n)
			}
			fmt.Fprintln(tw, r.Labels[i]+"\t"+strings.Join(cells, "\t")+"\t")
		}
		return tw.Flush()
	}
	return nil
}
