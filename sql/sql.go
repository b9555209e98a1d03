// Package sql holds the current definition of every SQL object of htdag's
// engine, one object per file, in apply order: sql/flow/NN_kind_name.sql.
//
// These files are the source. A database gets there through the migrations
// (package migrations, append-only), which are generated from these files by
// internal/sqlsnap; the drift test in this package checks that a database
// built by the migrations and one built by applying these files in order have
// the same catalog.
//
// Numbering: 00 schema, 01 roles, 1x tables (each with its indexes, checks and
// comments), 2x functions (21 for one that a SQL-language function of 20
// calls: those are checked when created), 30 triggers, 40 views, 90 grants.
package sql

import "embed"

// Flow holds the engine's files under "flow/".
//
//go:embed flow/*.sql
var Flow embed.FS

// FlowDir is the directory of the engine's files in [Flow].
const FlowDir = "flow"
