"""Knowledge base of administrative procedures: content, signed partner API, Vietnamese search
(KB-01…22, CRM-10, APP-02)."""
