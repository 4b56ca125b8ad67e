"""Data Shield: personal data found wherever it flows (recognizers and the scanner), masked
or tokenized by policy, kept out of logs, measured for re-identification risk before a data
set leaves, and shared only as a consented purpose needs."""
