package main

// apiKey must never be ingested: .gitignore lists this file.
const apiKey = "not-a-real-key"
