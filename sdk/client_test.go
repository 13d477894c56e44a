package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/whetml/whet/sdk"
)

func TestStatusError(t *testing.T) {
	cases := []struct {
		name, body, ctype string
		status            int
		wantMsg, wantCode string
	}{
		{"openai shape", `{"error":{"message":"file[x] not found","type":"not_found_error","param":null,"code":"not_found"}}`,
			"application/json", 404, "file[x] not found", "not_found"},
		{"plain text", "upstream exploded", "text/plain", 502, "upstream exploded", ""},
		{"empty", "", "text/plain", 503, "Service Unavailable", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := sdk.NewClient(srv.URL).GetFile(context.Background(), "x")
			var se *sdk.StatusError
			if !errors.As(err, &se) || se.StatusCode != tc.status || se.Err.Message != tc.wantMsg {
				t.Fatalf("err = %#v", err)
			}
			if got := ""; se.Err.Code != nil {
				got = *se.Err.Code
				if got != tc.wantCode {
					t.Fatalf("code = %q", got)
				}
			}
		})
	}
}

func TestAuthorizationHeader(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		io.WriteString(w, `{"object":"list","data":[],"has_more":false}`)
	}))
	defer srv.Close()
	if _, err := sdk.NewClient(srv.URL, sdk.WithAPIKey("k1")).ListModels(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "Bearer k1" {
		t.Fatalf("Authorization = %q", got)
	}
}

// sse serves a fixed event stream.
func sse(body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("stream") != "true" {
			http.Error(w, "not a stream request", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}))
}

func TestStreamJobEvents(t *testing.T) {
	ev := func(id int, msg string) string {
		return fmt.Sprintf("id: %d\nevent: message\ndata: {\"id\":%d,\"object\":\"fine_tuning.job.event\",\"level\":\"info\",\"message\":%q,\"type\":\"message\"}\n\n", id, id, msg)
	}
	t.Run("delivers in order until done", func(t *testing.T) {
		srv := sse(ev(1, "one") + ": keep-alive\n\n" + ev(2, "two") + "data: [DONE]\n\n")
		defer srv.Close()
		var got []string
		err := sdk.NewClient(srv.URL).StreamJobEvents(context.Background(), "j", 0, func(e sdk.JobEvent) error {
			got = append(got, fmt.Sprint(e.ID, e.Message))
			return nil
		})
		if err != nil || strings.Join(got, ",") != "1one,2two" {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("callback error stops", func(t *testing.T) {
		srv := sse(ev(1, "one") + ev(2, "two") + "data: [DONE]\n\n")
		defer srv.Close()
		stop := errors.New("enough")
		n := 0
		err := sdk.NewClient(srv.URL).StreamJobEvents(context.Background(), "j", 0, func(sdk.JobEvent) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("n = %d, err = %v", n, err)
		}
	})
	t.Run("cut stream is an error", func(t *testing.T) {
		srv := sse(ev(1, "one"))
		defer srv.Close()
		err := sdk.NewClient(srv.URL).StreamJobEvents(context.Background(), "j", 0, func(sdk.JobEvent) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "ended before the job finished") {
			t.Fatalf("err = %v", err)
		}
	})
}
