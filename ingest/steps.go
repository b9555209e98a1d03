package ingest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/htdag/htdag/ingest/parse"
)

// fileState is what a per-file chain knows of its file. Each step's output
// is its input with the step's findings added, so the store step has all of
// it; content never travels in it (steps that need the bytes read the file
// and check its hash).
type fileState struct {
	Run      int64  `json:"run"`
	Codebase string `json:"codebase"`
	Root     string `json:"root"`
	Path     string `json:"path"`
	Dir      string `json:"dir"`
	MaxSize  int64  `json:"max_size"`
	Ignored  string `json:"ignored,omitempty"`   // the .gitignore rule that ignores the file
	PrevHash string `json:"prev_hash,omitempty"` // the current version's hash, from the walk

	// Skip is why the rest of the chain has nothing to do: "unchanged", or
	// a reason not to store the file. Steps pass a skipped state on as is.
	Skip string `json:"skip,omitempty"`

	Size     int64         `json:"size,omitempty"`     // stat
	Hash     string        `json:"hash,omitempty"`     // validate
	Language string        `json:"language,omitempty"` // detect
	Parsed   *parse.Parsed `json:"parsed,omitempty"`   // parse
	Chunks   []parse.Chunk `json:"chunks,omitempty"`   // chunk
	Status   string        `json:"status,omitempty"`   // store
}

// errChanged is returned when a file's content no longer has the hash the
// validate step saw.
type errChanged struct{ path string }

func (e *errChanged) Error() string {
	return fmt.Sprintf("%s changed while it was being ingested; ingest again", e.path)
}

// read reads the file and checks that it is still what validate hashed. A
// file that can no longer be read (gone, or made unreadable, since the walk)
// is not an error to retry: read sets st.Skip to why and returns no data.
func (st *fileState) read() ([]byte, error) {
	data, err := readFile(st.Root, st.Path, st.MaxSize)
	if skip := unreadable(err); skip != "" {
		st.Skip = skip
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if hashContent(data) != st.Hash {
		return nil, &errChanged{path: st.Path}
	}
	return data, nil
}

func doStat(st *fileState) error {
	size, skip, err := statFile(st.Root, st.Path, st.MaxSize)
	if err != nil {
		return err
	}
	st.Size, st.Skip = size, skip
	return nil
}

func doValidate(st *fileState) error {
	var data []byte
	if st.Ignored == "" && !parse.Vendored(st.Path) && st.Size > 0 {
		var err error
		data, err = readFile(st.Root, st.Path, st.MaxSize)
		if skip := unreadable(err); skip != "" {
			st.Skip = skip
			return nil
		}
		if err != nil {
			return err
		}
	}
	v := validateContent(st.Path, st.Ignored, data)
	st.Skip, st.Hash = v.skip, v.hash
	if st.Skip == "" && st.Hash == st.PrevHash {
		st.Skip = SkipUnchanged
	}
	return nil
}

func doDetect(st *fileState) error {
	data, err := st.read()
	if err != nil || st.Skip != "" {
		return err
	}
	if st.Language = parse.Language(st.Path, data); st.Language == "" {
		st.Skip = SkipNoLanguage
	}
	return nil
}

func doParse(st *fileState) error {
	data, err := st.read()
	if err != nil || st.Skip != "" {
		return err
	}
	st.Parsed = parse.File(st.Path, st.Language, data)
	return nil
}

func doChunk(st *fileState) error {
	data, err := st.read()
	if err != nil || st.Skip != "" {
		return err
	}
	st.Chunks = parse.Chunks(data, st.Parsed.Decls, parse.MaxChunkBytes)
	return nil
}

// prepareStore reads what the store step writes; storeState writes it in
// the completion transaction.
func prepareStore(st *fileState) ([]byte, error) {
	if st.Skip != "" {
		return nil, nil
	}
	return st.read()
}

func storeState(ctx context.Context, tx pgx.Tx, st *fileState, content []byte) (string, error) {
	switch st.Skip {
	case "":
		return storeVersion(ctx, tx, &versionInput{
			Run: st.Run, Codebase: st.Codebase, Path: st.Path, Dir: st.Dir, Hash: st.Hash,
			Content: content, Language: st.Language, Parsed: st.Parsed, Chunks: st.Chunks,
		})
	case SkipUnchanged:
		return storeUnchanged(ctx, tx, st.Run, st.Codebase, st.Path, st.Dir, st.Hash)
	default:
		return storeSkipped(ctx, tx, st.Run, st.Codebase, st.Path, st.Dir, st.Skip)
	}
}
