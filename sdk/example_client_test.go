package sdk_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/whetml/whet/sdk"
)

// ExampleClient_Predict classifies two texts with a fine-tuned model. (A stand-in server answers here; point
// NewClient at `whet serve`.)
func ExampleClient_Predict() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"label":"pos","score":0.93,"scores":{"neg":0.07,"pos":0.93}},{"label":"neg","score":0.88,"scores":{"neg":0.88,"pos":0.12}}]`)
	}))
	defer srv.Close()
	c := sdk.NewClient(srv.URL, sdk.WithAPIKey("whet-..."))
	preds, err := c.Predict(context.Background(), "ft:tiny-bert:sst2:ftjob-1", sdk.PredictRequest{Inputs: []string{"a great movie", "a dull movie"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range preds {
		fmt.Printf("%s %.2f\n", p.Label, p.Score)
	}
	// Output:
	// pos 0.93
	// neg 0.88
}

// ExampleClient_StreamJobEvents follows a job until it finishes.
func ExampleClient_StreamJobEvents() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\nevent: status\ndata: {\"id\":1,\"level\":\"info\",\"message\":\"training started (attempt 1)\",\"type\":\"status\",\"data\":{\"status\":\"running\"}}\n\n")
		io.WriteString(w, "id: 2\nevent: status\ndata: {\"id\":2,\"level\":\"info\",\"message\":\"job succeeded\",\"type\":\"status\",\"data\":{\"status\":\"succeeded\"}}\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	c := sdk.NewClient(srv.URL)
	err := c.StreamJobEvents(context.Background(), "ftjob-1", 0, func(ev sdk.JobEvent) error {
		fmt.Println(ev.ID, ev.Message)
		return nil
	})
	fmt.Println("err:", err)
	// Output:
	// 1 training started (attempt 1)
	// 2 job succeeded
	// err: <nil>
}

// ExampleClient_UploadFile shows the 400 a malformed upload gets: the message names the file and line.
func ExampleClient_UploadFile() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"message":"train.jsonl:3: invalid JSON","type":"invalid_request_error","param":"file","code":"invalid_file"}}`)
	}))
	defer srv.Close()
	_, err := sdk.NewClient(srv.URL).UploadFile(context.Background(), sdk.UploadFileRequest{Filename: "train.jsonl",
		Content: strings.NewReader("...")})
	fmt.Println(err)
	// Output:
	// whet api: status 400: train.jsonl:3: invalid JSON (param file)
}
