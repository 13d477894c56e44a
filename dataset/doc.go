// Package dataset reads labeled (or unlabeled) text-classification data: JSONL, CSV and TSV files with a header.
//
// It is pure Go (stdlib only) so the server, the CLI and the trainer all read files the same way. It may not import
// anything from host/, native/ or wasm/.
//
// # Formats
//
//   - JSONL (.jsonl, .ndjson, .json): one object per line, {"text": ..., "label": ...}, optional "text_pair".
//     Labels may be strings or integers. Blank lines are skipped.
//   - CSV (.csv): RFC 4180 with a header row.
//   - TSV (.tsv, .tab): a header row, fields split on tabs with NO quoting (some texts start with a double quote).
//   - Rows (FormatRows, recognised by its first line whatever the name): rows already read and checked, written by
//     WriteRows with the name and line numbers of the file they came from, which errors keep using.
//
// StratifiedSplit (and Dataset.Split) holds out a seeded share of each label's rows for validation.
//
// Columns (or JSON keys) are found by name, case-insensitively: text from text, sentence, text_a, content, review;
// label from label, labels, target, class; an optional second text from text_pair, text_b. Options can name them
// explicitly. Every bad row is reported with file, line, field and reason as a *Error; when several rows are bad the
// returned error is an Errors list holding all of them (errors.As finds the first *Error). Nothing is silently
// dropped: an empty dataset and a row without text are errors.
//
// Reading is streaming (bufio) and capped at Options.MaxBytes.
//
//	ds, err := dataset.ReadFile("train.tsv", dataset.Options{RequireLabel: true})
//	if err != nil {
//		return err // e.g. train.tsv:12: field "label": missing
//	}
//	for _, r := range ds.Rows {
//		fmt.Println(r.Line, r.Text, r.Label)
//	}
package dataset
