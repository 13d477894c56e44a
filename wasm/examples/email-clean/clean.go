package main

import (
	"html"
	"regexp"
	"strings"
)

var (
	headerLine   = regexp.MustCompile(`^(From |[A-Za-z][A-Za-z0-9-]*:)`)
	scriptStyle  = regexp.MustCompile(`(?is)<(script|style|head)\b.*?</(script|style|head)\s*>`)
	htmlComment  = regexp.MustCompile(`(?s)<!--.*?-->`)
	blockTag     = regexp.MustCompile(`(?i)<\s*(br|/p|p|/div|div|/tr|tr|li|/li|/h[1-6])\b[^>]*>`)
	htmlTag      = regexp.MustCompile(`(?s)</?[A-Za-z!][^>]*>`)
	onWrote      = regexp.MustCompile(`(?i)^\s*on\b.*\bwrote:\s*$`)
	originalMsg  = regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|forwarded message)\s*-{2,}\s*$`)
	spaceRun     = regexp.MustCompile(`[ \t\p{Zs}]+`)
	blankLineRun = regexp.MustCompile(`\n{3,}`)
)

// Clean returns the human-written part of a mail: headers, HTML markup, quoted replies and the signature removed,
// entities decoded, white space collapsed. Text that is not a mail passes through with only HTML and white space
// cleaned.
func Clean(mail string) string {
	s := strings.ReplaceAll(mail, "\r\n", "\n")
	s = stripHeaders(s)
	if strings.Contains(s, "<") {
		s = scriptStyle.ReplaceAllString(s, " ")
		s = htmlComment.ReplaceAllString(s, " ")
		s = blockTag.ReplaceAllString(s, "\n")
		s = htmlTag.ReplaceAllString(s, " ")
	}
	s = html.UnescapeString(s)
	var kept []string
	for _, line := range strings.Split(s, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "--" && strings.HasPrefix(line, "--") || originalMsg.MatchString(line) {
			break // signature delimiter or forwarded/original message: the rest is not this author's text
		}
		if strings.HasPrefix(trimmed, ">") || onWrote.MatchString(line) {
			continue
		}
		kept = append(kept, strings.TrimSpace(spaceRun.ReplaceAllString(line, " ")))
	}
	s = strings.Join(kept, "\n")
	s = blankLineRun.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s)
}

// stripHeaders drops an RFC 5322 header block (lines "Name: value", folded continuation lines, an mbox "From "
// line) up to the first blank line, when the text starts with one.
func stripHeaders(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	if !headerLine.MatchString(first) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		switch {
		case strings.TrimSpace(line) == "":
			return strings.Join(lines[i+1:], "\n")
		case line[0] == ' ' || line[0] == '\t' || headerLine.MatchString(line):
			continue
		default:
			return s // not a header block after all
		}
	}
	return "" // only headers
}
