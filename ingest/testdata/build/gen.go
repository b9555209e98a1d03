package build

// Generated is in an ignored directory.
func Generated() {}
