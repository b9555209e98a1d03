// Package sqlcatalog reads what a database's catalog says about a set of
// schemas, as comparable text, and applies SQL source directories. Drift
// tests use it to check that a database built by the migrations and one
// built from the sql/ source files are the same.
package sqlcatalog

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Catalog maps an object ("function flow.start(jsonb, integer)", "table
// flow.run", "column flow.run.state", ...) to a text describing it: its
// definition as PostgreSQL prints it, its comment and its privileges.
type Catalog map[string]string

// Querier is what Snapshot reads through (a *pgx.Conn, a pool, a tx).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// snapshotSQL lists every object in the given schemas, and the triggers
// (on any table) whose function is in them, one row each. Privileges are
// normalised with acldefault, so "never granted" and "granted the
// defaults" read the same.
const snapshotSQL = `
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY ($1)
)
SELECT 'schema ' || n.nspname,
       concat_ws(E'\n', 'comment: ' || obj_description(n.oid, 'pg_namespace'),
                 'acl: ' || array_to_string(ARRAY(SELECT a::text FROM unnest(coalesce(n2.nspacl, acldefault('n'::"char", n2.nspowner))) a ORDER BY 1), ','))
  FROM ns n JOIN pg_namespace n2 ON n2.oid = n.oid
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text,
       concat_ws(E'\n', pg_get_functiondef(p.oid),
                 'comment: ' || obj_description(p.oid, 'pg_proc'),
                 'acl: ' || array_to_string(ARRAY(SELECT a::text FROM unnest(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) a ORDER BY 1), ','))
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p', 'w')
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table ' WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view '
                      WHEN 'S' THEN 'sequence ' WHEN 'p' THEN 'table ' ELSE 'relation ' END
       || quote_ident(ns.nspname) || '.' || quote_ident(c.relname),
       concat_ws(E'\n',
                 CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END,
                 'options: ' || array_to_string(c.reloptions, ','),
                 'rls: ' || CASE WHEN c.relrowsecurity THEN 'on' END || CASE WHEN c.relforcerowsecurity THEN ' forced' END,
                 'comment: ' || obj_description(c.oid, 'pg_class'),
                 'acl: ' || array_to_string(ARRAY(SELECT a::text FROM unnest(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a ORDER BY 1), ','))
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'v', 'm', 'S', 'p')
UNION ALL
SELECT 'column ' || quote_ident(ns.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(a.attname),
       concat_ws(E'\n',
                 format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                 'default: ' || pg_get_expr(d.adbin, d.adrelid),
                 'identity: ' || nullif(a.attidentity::text, ''),
                 'generated: ' || nullif(a.attgenerated::text, ''),
                 'comment: ' || col_description(c.oid, a.attnum),
                 'acl: ' || array_to_string(ARRAY(SELECT x::text FROM unnest(a.attacl) x ORDER BY 1), ','))
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relkind IN ('r', 'v', 'm', 'p')
UNION ALL
SELECT 'index ' || quote_ident(ns.nspname) || '.' || quote_ident(i.relname),
       concat_ws(E'\n', pg_get_indexdef(i.oid),
                 'options: ' || array_to_string(i.reloptions, ','),
                 'comment: ' || obj_description(i.oid, 'pg_class'))
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN ns ON ns.oid = i.relnamespace
UNION ALL
SELECT 'constraint ' || quote_ident(ns.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(k.conname),
       concat_ws(E'\n', pg_get_constraintdef(k.oid),
                 'comment: ' || obj_description(k.oid, 'pg_constraint'))
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN ns ON ns.oid = c.relnamespace
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text,
       concat_ws(E'\n', pg_get_triggerdef(t.oid),
                 'enabled: ' || t.tgenabled::text,
                 'comment: ' || obj_description(t.oid, 'pg_trigger'))
  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN ns ON ns.oid = p.pronamespace
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass::text,
       concat_ws(E'\n', pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid),
                 'cmd: ' || pol.polcmd::text, 'permissive: ' || pol.polpermissive,
                 'roles: ' || array_to_string(ARRAY(SELECT coalesce(r.rolname, 'public') FROM unnest(pol.polroles) u(oid)
                                                     LEFT JOIN pg_roles r ON r.oid = u.oid ORDER BY 1::text), ','))
  FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN ns ON ns.oid = c.relnamespace
UNION ALL
SELECT 'type ' || t.oid::regtype::text,
       concat_ws(E'\n', t.typtype::text,
                 CASE t.typtype WHEN 'e' THEN (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
                                WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
                 'comment: ' || obj_description(t.oid, 'pg_type'))
  FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
 WHERE t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
UNION ALL
SELECT 'default privileges ' || coalesce(ns.nspname, '(global)') || ' ' || pg_get_userbyid(d.defaclrole) || ' ' || d.defaclobjtype::text,
       array_to_string(ARRAY(SELECT a::text FROM unnest(d.defaclacl) a ORDER BY 1), ',')
  FROM pg_default_acl d LEFT JOIN ns ON ns.oid = d.defaclnamespace
 WHERE d.defaclnamespace = 0 OR ns.oid IS NOT NULL`

// Snapshot reads the catalog of schemas (and of the triggers whose functions
// live in them) through q.
func Snapshot(ctx context.Context, q Querier, schemas ...string) (Catalog, error) {
	rows, err := q.Query(ctx, snapshotSQL, schemas)
	if err != nil {
		return nil, err
	}
	cat := Catalog{}
	var name, def string
	_, err = pgx.ForEachRow(rows, []any{&name, &def}, func() error {
		if _, dup := cat[name]; dup {
			return fmt.Errorf("sqlcatalog: %s listed twice", name)
		}
		cat[name] = def
		return nil
	})
	return cat, err
}

// Without returns c without the objects whose names start with one of prefixes.
func (c Catalog) Without(prefixes ...string) Catalog {
	out := Catalog{}
	for k, v := range c {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			out[k] = v
		}
	}
	return out
}

// Difference is one object that two catalogs describe differently. A or B is
// empty when the object exists on one side only.
type Difference struct {
	Object string
	A, B   string
}

func (d Difference) String() string {
	switch {
	case d.A == "":
		return fmt.Sprintf("%s: missing from the first database; the second has:\n%s", d.Object, d.B)
	case d.B == "":
		return fmt.Sprintf("%s: missing from the second database; the first has:\n%s", d.Object, d.A)
	}
	return fmt.Sprintf("%s differs:\n%s", d.Object, lineDiff(d.A, d.B))
}

// Diff lists the objects that a and b describe differently, by name.
func Diff(a, b Catalog) []Difference {
	names := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []Difference
	for _, k := range names {
		if a[k] != b[k] {
			out = append(out, Difference{Object: k, A: a[k], B: b[k]})
		}
	}
	return out
}

// lineDiff shows the first lines where a and b differ, with a little context.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "  first difference at line %d\n", i+1)
	for j := max(0, i-2); j < i; j++ {
		fmt.Fprintf(&sb, "    %s\n", al[j])
	}
	for j := i; j < min(len(al), i+4); j++ {
		fmt.Fprintf(&sb, "  - %s\n", al[j])
	}
	for j := i; j < min(len(bl), i+4); j++ {
		fmt.Fprintf(&sb, "  + %s\n", bl[j])
	}
	return sb.String()
}

// Files returns the .sql files of dir in fsys in apply order (by name).
func Files(fsys fs.FS, dir string) ([]string, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// Apply runs every .sql file of dir in fsys, in name order, through conn. It
// stops at the first error, naming the file.
func Apply(ctx context.Context, conn *pgx.Conn, fsys fs.FS, dir string) error {
	names, err := Files(fsys, dir)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("sqlcatalog: no .sql files in %s", dir)
	}
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("applying %s: %w", name, err)
		}
	}
	return nil
}
