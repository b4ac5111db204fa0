"""PBX objects stored in the database: settings, extensions, trunks, routes, PIN sets, sounds, CDRs."""
