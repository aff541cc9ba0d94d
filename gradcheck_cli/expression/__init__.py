"""The expression target: a function written in gradcheck's expression language.

Parsed once into SymPy by a whitelist parser (:mod:`.parse`), compiled to
straight-line programs (:mod:`.codegen`), differentiated by the built-in
methods (:mod:`.symbolic`, :mod:`.finite_diff`, :mod:`.reverse`) and held
against a 30-digit mpmath reference. Only expression checks import this
package, so only they load SymPy and mpmath.
"""
