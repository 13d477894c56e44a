package abi

import (
	"encoding/json"
	"fmt"
)

// Info is the body of the whet_info response: a JSON object describing the module.
type Info struct {
	// Kind is "preprocess" or "evaluate".
	Kind Kind `json:"kind"`
	// Name is a short identifier such as "bert-wordpiece"; it appears in the host's error messages.
	Name string `json:"name"`
	// Description is an optional one-line summary for listings.
	Description string `json:"description,omitempty"`
}

// MarshalInfo encodes info as the whet_info body.
func MarshalInfo(info Info) []byte {
	b, _ := json.Marshal(info) // cannot fail: strings only
	return b
}

// ParseInfo decodes and validates a whet_info body.
func ParseInfo(body []byte) (Info, error) {
	var info Info
	if err := json.Unmarshal(body, &info); err != nil {
		return Info{}, fmt.Errorf("abi: whet_info: invalid JSON: %w", err)
	}
	if info.Kind.Export() == "" {
		return Info{}, fmt.Errorf("abi: whet_info: kind %q is not %q or %q", info.Kind, KindPreprocess, KindEvaluate)
	}
	if info.Name == "" {
		return Info{}, fmt.Errorf("abi: whet_info: name is empty")
	}
	if len(info.Name) > 128 {
		return Info{}, fmt.Errorf("abi: whet_info: name is %d bytes, at most 128 allowed", len(info.Name))
	}
	return info, nil
}
