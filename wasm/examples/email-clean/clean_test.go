package main

import "testing"

func TestClean(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain text unchanged", "Hello there, friend.", "Hello there, friend."},
		{"headers stripped",
			"From spammer@example.com  Mon Jan  1 00:00:00 2002\nReturn-Path: <x@example.com>\nSubject: Win big\n  continued subject\nContent-Type: text/plain\n\nClaim your prize now",
			"Claim your prize now"},
		{"header-looking first line of a normal text", "Note: this is not a mail\nsecond line", "Note: this is not a mail\nsecond line"},
		{"quoted reply dropped",
			"Sounds good.\n\nOn Mon, 1 Jan 2002, Bob <bob@example.com> wrote:\n> Shall we meet?\n>> earlier\nSee you",
			"Sounds good.\n\nSee you"},
		{"signature dropped", "Thanks for the report.\n-- \nJane Doe\nACME Corp", "Thanks for the report."},
		{"original message dropped", "FYI below\n-----Original Message-----\nFrom: a\nold text", "FYI below"},
		{"html stripped",
			"<html><head><title>x</title><style>p{color:red}</style></head><body><p>Buy <b>now</b>&nbsp;&amp; save!</p><br>Click <a href=\"http://x\">here</a><!-- hidden --></body></html>",
			"Buy now & save!\n\nClick here"},
		{"crlf and spaces", "a  \t b\r\n\r\n\r\n\r\nc", "a b\n\nc"},
		{"only headers", "Subject: hi\nFrom: a@b", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Fatalf("Clean(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}
