"""Suffix automaton of a token sequence: O(n) to build; from any state, the tokens that keep the generated text a
contiguous substring are the state's outgoing transitions (no rescan of the passage)."""


class SuffixAutomaton:
    """Accepts exactly the contiguous sub-sequences of ``tokens``.

    ``next_tokens(state)`` lists allowed continuations; ``advance(state, token)`` follows one (None if not a
    substring); state 0 is the empty sequence.
    """

    def __init__(self, tokens):
        self.trans = [{}]
        self.link = [-1]
        self.length = [0]
        last = 0
        for tok in tokens:
            cur = len(self.trans)
            self.trans.append({})
            self.length.append(self.length[last] + 1)
            self.link.append(0)
            p = last
            while p != -1 and tok not in self.trans[p]:
                self.trans[p][tok] = cur
                p = self.link[p]
            if p != -1:
                q = self.trans[p][tok]
                if self.length[p] + 1 == self.length[q]:
                    self.link[cur] = q
                else:
                    clone = len(self.trans)
                    self.trans.append(dict(self.trans[q]))
                    self.length.append(self.length[p] + 1)
                    self.link.append(self.link[q])
                    while p != -1 and self.trans[p].get(tok) == q:
                        self.trans[p][tok] = clone
                        p = self.link[p]
                    self.link[q] = clone
                    self.link[cur] = clone
            last = cur

    def advance(self, state, token):
        if state is None:
            return None
        return self.trans[state].get(token)

    def walk(self, tokens, state=0):
        for t in tokens:
            state = self.advance(state, t)
            if state is None:
                return None
        return state

    def next_tokens(self, state):
        return list(self.trans[state]) if state is not None else []

    def contains(self, tokens):
        return self.walk(tokens) is not None
