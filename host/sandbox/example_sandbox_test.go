package sandbox_test

import (
	"context"
	"fmt"
	"os"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

func Example() {
	ctx := context.Background()
	rt, err := sandbox.New(ctx, sandbox.Config{CacheDir: cacheDir})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx)
	wasm, _ := os.ReadFile(guestPath(nil, "bert-wordpiece")) // modules.BertWordPiece() in the server
	mod, err := rt.CompileTrusted(ctx, wasm)
	if err != nil {
		panic(err)
	}
	vocab, _ := os.ReadFile(hfref.TinyVocabPath(repoRoot))
	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{Vocab: vocab, DoLowerCase: true, MaxLength: 128})
	if err != nil {
		panic(err)
	}
	defer pre.Close(ctx)
	out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"Café İstanbul, hello world!"}, WithTokens: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(mod.Info().Kind, mod.Info().Name)
	fmt.Println(out.Tokens[0])
	fmt.Println(out.InputIDs[0])
	// Output:
	// preprocess bert-wordpiece
	// [[CLS] cafe istanbul , hello world ! [SEP]]
	// [3 54 57 13 52 53 6 4]
}
