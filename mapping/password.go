package mapping

// HasPassword says whether the mapping sends a password: a column or a constant of the file, or
// a column of the source named password. Such a run hashes every record's password (SPEC §4).
func (m *Mapper) HasPassword() bool {
	for _, o := range m.ops {
		if o.tgt.kind == kindPassword {
			return true
		}
	}
	return false
}
