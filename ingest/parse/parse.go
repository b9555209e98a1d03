package parse

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// Symbol is one definition found in a file.
type Symbol struct {
	Kind   string `json:"kind"`             // func, method, type, const, var; function, class, table, section, ...
	Name   string `json:"name"`             // its name
	Parent string `json:"parent,omitempty"` // Go methods: the receiver type (*T or T)
	Start  int    `json:"start"`            // first line, from 1
	End    int    `json:"end"`              // last line
}

// Key is what symbol changes compare: kind, parent and name (as the
// ingest.symbol.key column).
func (s Symbol) Key() string {
	if s.Parent != "" {
		return s.Kind + " " + s.Parent + "." + s.Name
	}
	return s.Kind + " " + s.Name
}

// Decl is a top-level declaration: the unit chunks are cut along. Its lines
// include the declaration's doc comment.
type Decl struct {
	Label string `json:"label"` // "func main", "type (Config, Option)", ...
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// Parsed is the parse step's result.
type Parsed struct {
	Package string   `json:"package,omitempty"`
	Imports []string `json:"imports,omitempty"`
	Symbols []Symbol `json:"symbols,omitempty"`
	Decls   []Decl   `json:"decls,omitempty"`
	Lines   int      `json:"lines"`
	Error   string   `json:"error,omitempty"` // a syntax error; what was found before it is kept
}

// parseFile is the parse step: Go with go/parser, other languages with a
// light line-based extractor of top-level definitions.
func File(rel, language string, src []byte) *Parsed {
	var p *Parsed
	if language == "go" {
		p = parseGo(rel, src)
	} else {
		p = parseLight(language, src)
	}
	p.Lines = CountLines(src)
	return p
}

func parseGo(rel string, src []byte) *Parsed {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, src, parser.ParseComments|parser.SkipObjectResolution)
	p := &Parsed{}
	if err != nil {
		msg := err.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		p.Error = msg
	}
	if f == nil {
		return p
	}
	if f.Name != nil {
		p.Package = f.Name.Name
	}
	for _, imp := range f.Imports {
		if path, err := strconv.Unquote(imp.Path.Value); err == nil {
			p.Imports = append(p.Imports, path)
		}
	}
	line := func(pos token.Pos) int { return fset.Position(pos).Line }
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			s := Symbol{Kind: "func", Name: d.Name.Name, Start: line(d.Pos()), End: line(d.End())}
			if d.Recv != nil && len(d.Recv.List) > 0 {
				s.Kind, s.Parent = "method", typeString(d.Recv.List[0].Type)
			}
			p.Symbols = append(p.Symbols, s)
			start := s.Start
			if d.Doc != nil {
				start = line(d.Doc.Pos())
			}
			p.Decls = append(p.Decls, Decl{Label: s.Key(), Start: start, End: s.End})
		case *ast.GenDecl:
			if d.Tok == token.IMPORT {
				continue
			}
			kind := d.Tok.String() // type, const, var
			var names []string
			for _, spec := range d.Specs {
				// A lone spec without parentheses spans its whole declaration.
				start, end := line(spec.Pos()), line(spec.End())
				if !d.Lparen.IsValid() {
					start, end = line(d.Pos()), line(d.End())
				}
				switch sp := spec.(type) {
				case *ast.TypeSpec:
					p.Symbols = append(p.Symbols, Symbol{Kind: kind, Name: sp.Name.Name, Start: start, End: end})
					names = append(names, sp.Name.Name)
				case *ast.ValueSpec:
					for _, n := range sp.Names {
						if n.Name == "_" {
							continue
						}
						p.Symbols = append(p.Symbols, Symbol{Kind: kind, Name: n.Name, Start: start, End: end})
						names = append(names, n.Name)
					}
				}
			}
			start := line(d.Pos())
			if d.Doc != nil {
				start = line(d.Doc.Pos())
			}
			label := kind + " " + strings.Join(names, ", ")
			if len(names) > 1 {
				label = kind + " (" + strings.Join(names, ", ") + ")"
			}
			p.Decls = append(p.Decls, Decl{Label: label, Start: start, End: line(d.End())})
		}
	}
	return p
}

// typeString renders a receiver type: T, *T, T[K], *T[K, V].
func typeString(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return "*" + typeString(t.X)
	case *ast.IndexExpr:
		return typeString(t.X) + "[" + typeString(t.Index) + "]"
	case *ast.IndexListExpr:
		parts := make([]string, len(t.Indices))
		for i, ix := range t.Indices {
			parts[i] = typeString(ix)
		}
		return typeString(t.X) + "[" + strings.Join(parts, ", ") + "]"
	case *ast.SelectorExpr:
		return typeString(t.X) + "." + t.Sel.Name
	case *ast.ParenExpr:
		return typeString(t.X)
	}
	return "?"
}

// sortDecls orders declarations by first line and trims overlaps, so that
// chunks never share a line.
func sortDecls(decls []Decl) []Decl {
	sort.SliceStable(decls, func(i, j int) bool { return decls[i].Start < decls[j].Start })
	out := decls[:0]
	last := 0
	for _, d := range decls {
		if d.Start <= last {
			d.Start = last + 1
		}
		if d.End < d.Start {
			continue
		}
		out = append(out, d)
		last = d.End
	}
	return out
}

// splitLines splits src into lines without their newlines.
func splitLines(src []byte) []string {
	if len(src) == 0 {
		return nil
	}
	s := string(bytes.TrimSuffix(src, []byte("\n")))
	return strings.Split(s, "\n")
}
