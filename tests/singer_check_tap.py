"""Runs singer-tools' `singer-check-tap` with its reader-thread race closed.

singer-tools 0.4.1 (`check_tap.run_and_summarize`) returns the stdout reader's summary as soon as
the tap process has exited, without joining the reader thread: when the tap's last lines are still
being parsed, the summary is None and the tool crashes with "'NoneType' object has no attribute
'num_messages'" after the first "The output is valid.". Reading the summary here waits for the
thread to finish; nothing else of the tool changes. Run with singer-tools' own interpreter.
"""

import sys

# This file's folder holds the tests' own `singer.py`, which would shadow singer-python.
sys.path.pop(0)

from singertools import check_tap


class JoinedStdoutReader(check_tap.StdoutReader):
    @property
    def summary(self):
        if self.is_alive():
            self.join()
        return self._summary

    @summary.setter
    def summary(self, value):
        self._summary = value


check_tap.StdoutReader = JoinedStdoutReader

if __name__ == "__main__":
    sys.exit(check_tap.main())
