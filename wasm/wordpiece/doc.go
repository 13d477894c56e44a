// Package wordpiece is a pure-Go BERT WordPiece tokenizer that reproduces HuggingFace `tokenizers`
// (BertWordPieceTokenizer / BertTokenizerFast) token for token.
//
// It owns the whole pipeline HuggingFace builds for BERT:
//
//   - special tokens ([PAD] [UNK] [CLS] [SEP] [MASK], those present in the vocab) are matched in the raw text first
//     and never normalized, as HuggingFace's added special tokens are;
//   - BertNormalizer: drop NUL, U+FFFD and control/format characters (Unicode Cc, Cf, Co, Cs except \t \n \r),
//     map Unicode white space (NBSP, U+3000, ...) to a space, put spaces around CJK ideographs, then (with
//     lowercasing, unless StripAccents says otherwise) NFD-decompose and drop non-spacing marks, then lowercase;
//   - BertPreTokenizer: split on white space and isolate punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and
//     Unicode P*);
//   - WordPiece: greedy longest-match-first with the "##" continuation prefix; a word longer than 100 characters,
//     or one that cannot be covered by vocabulary pieces, becomes [UNK];
//   - [CLS] a [SEP] (b [SEP]) with token type ids, longest-first truncation and optional padding.
//
// The package is shared by the bert-wordpiece WebAssembly module (built for wasip1) and by host-side tests; it
// depends only on the standard library and golang.org/x/text/unicode/norm, and may not import anything else from
// whet. A Tokenizer is immutable after New and safe for concurrent use.
//
// Example:
//
//	tok, err := wordpiece.New(vocabTxt, wordpiece.Options{DoLowerCase: true})
//	if err != nil {
//		return err
//	}
//	enc, err := tok.Encode("Café au lait", wordpiece.EncodeOptions{MaxLength: 128, Tokens: true})
//	// enc.IDs = [101 7668 8740 18749 102], enc.Tokens = [[CLS] cafe au lait [SEP]]
package wordpiece
