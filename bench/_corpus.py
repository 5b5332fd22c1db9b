"""Shared by the benchmarks: a fixed vocabulary and seeded sentence and passage makers (no downloads)."""

from __future__ import annotations

import random

__all__ = ["VOCABULARY", "passage", "sentence"]

# A fixed vocabulary of common English words; texts are drawn from it, nothing is downloaded.
VOCABULARY = """
the of and to in is was for on that with as by at from his her he she it they we you this
which are be or an had not but were have has their one all there been more when who will
would can no out up said what about into than them some could time so other its only new
these two may first then do any like my now over such our man me even most made after also
did many before must through back years where much your way well down should because each
just those people how too little state good very make world still own see men work long get
here between both life being under never day same another know while last might us great old
year off come since against go came right used take three states himself few house use during
without again place american around however home small found mrs thought went say part once
general high upon school every united left number course war until always away something fact
though water less public put think almost hand enough far took head yet government system better
set told nothing night end why called didn eyes find going look asked later knew point next city
business give group toward young days let room president side social given present several order
national possible rather second face per among form important often things looked early white
john case become large need big four within felt children along saw best church ever least power
development light thing family interest want members mind country area others done turned although
open god service certain kind problem began different door thus help sense means whole matter
perhaps itself york times law human line above name example action company hands local show whether
five history gave today either act feet across taken past quite anything seen having death experience
body word half really week free field car words already themselves information tell together college
shall money period held keep sure probably real behind seemed political question air office brought
whose special heard major problems ago became federal moment study available known result street
economic boy position reason change south board individual job society areas west close turn love
community true court force full seems am wife age future voice center woman control common policy
necessary following front sometimes six girl clear further land able feel party music education
provide students river village garden mountain summer winter bread coffee library window morning
evening market bridge harbor island forest winter letter station doctor teacher machine engine
""".split()


def sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(VOCABULARY) for _ in range(words)]
    chosen[0] = chosen[0].capitalize()
    return " ".join(chosen) + rng.choice([".", ".", ".", "?", "!"])


def passage(rng: random.Random, words: int) -> str:
    sentences: list[str] = []
    left = words
    while left > 0:
        size = min(left, rng.randint(8, 25))
        sentences.append(sentence(rng, size))
        left -= size
    return " ".join(sentences)
