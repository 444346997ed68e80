import {
    Cell,
    Slice,
    Address,
    Builder,
    beginCell,
    ComputeError,
    TupleItem,
    TupleReader,
    Dictionary,
    contractAddress,
    address,
    ContractProvider,
    Sender,
    Contract,
    ContractABI,
    ABIType,
    ABIGetter,
    ABIReceiver,
    TupleBuilder,
    DictionaryValue
} from '@ton/core';

export type DataSize = {
    $$type: 'DataSize';
    cells: bigint;
    bits: bigint;
    refs: bigint;
}

export function storeDataSize(src: DataSize) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.cells, 257);
        b_0.storeInt(src.bits, 257);
        b_0.storeInt(src.refs, 257);
    };
}

export function loadDataSize(slice: Slice) {
    const sc_0 = slice;
    const _cells = sc_0.loadIntBig(257);
    const _bits = sc_0.loadIntBig(257);
    const _refs = sc_0.loadIntBig(257);
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadGetterTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function storeTupleDataSize(source: DataSize) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.cells);
    builder.writeNumber(source.bits);
    builder.writeNumber(source.refs);
    return builder.build();
}

export function dictValueParserDataSize(): DictionaryValue<DataSize> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDataSize(src)).endCell());
        },
        parse: (src) => {
            return loadDataSize(src.loadRef().beginParse());
        }
    }
}

export type SignedBundle = {
    $$type: 'SignedBundle';
    signature: Buffer;
    signedData: Slice;
}

export function storeSignedBundle(src: SignedBundle) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBuffer(src.signature);
        b_0.storeBuilder(src.signedData.asBuilder());
    };
}

export function loadSignedBundle(slice: Slice) {
    const sc_0 = slice;
    const _signature = sc_0.loadBuffer(64);
    const _signedData = sc_0;
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadGetterTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function storeTupleSignedBundle(source: SignedBundle) {
    const builder = new TupleBuilder();
    builder.writeBuffer(source.signature);
    builder.writeSlice(source.signedData.asCell());
    return builder.build();
}

export function dictValueParserSignedBundle(): DictionaryValue<SignedBundle> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSignedBundle(src)).endCell());
        },
        parse: (src) => {
            return loadSignedBundle(src.loadRef().beginParse());
        }
    }
}

export type StateInit = {
    $$type: 'StateInit';
    code: Cell;
    data: Cell;
}

export function storeStateInit(src: StateInit) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeRef(src.code);
        b_0.storeRef(src.data);
    };
}

export function loadStateInit(slice: Slice) {
    const sc_0 = slice;
    const _code = sc_0.loadRef();
    const _data = sc_0.loadRef();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadGetterTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function storeTupleStateInit(source: StateInit) {
    const builder = new TupleBuilder();
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    return builder.build();
}

export function dictValueParserStateInit(): DictionaryValue<StateInit> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStateInit(src)).endCell());
        },
        parse: (src) => {
            return loadStateInit(src.loadRef().beginParse());
        }
    }
}

export type Context = {
    $$type: 'Context';
    bounceable: boolean;
    sender: Address;
    value: bigint;
    raw: Slice;
}

export function storeContext(src: Context) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBit(src.bounceable);
        b_0.storeAddress(src.sender);
        b_0.storeInt(src.value, 257);
        b_0.storeRef(src.raw.asCell());
    };
}

export function loadContext(slice: Slice) {
    const sc_0 = slice;
    const _bounceable = sc_0.loadBit();
    const _sender = sc_0.loadAddress();
    const _value = sc_0.loadIntBig(257);
    const _raw = sc_0.loadRef().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadGetterTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function storeTupleContext(source: Context) {
    const builder = new TupleBuilder();
    builder.writeBoolean(source.bounceable);
    builder.writeAddress(source.sender);
    builder.writeNumber(source.value);
    builder.writeSlice(source.raw.asCell());
    return builder.build();
}

export function dictValueParserContext(): DictionaryValue<Context> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeContext(src)).endCell());
        },
        parse: (src) => {
            return loadContext(src.loadRef().beginParse());
        }
    }
}

export type SendParameters = {
    $$type: 'SendParameters';
    mode: bigint;
    body: Cell | null;
    code: Cell | null;
    data: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeSendParameters(src: SendParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        if (src.code !== null && src.code !== undefined) { b_0.storeBit(true).storeRef(src.code); } else { b_0.storeBit(false); }
        if (src.data !== null && src.data !== undefined) { b_0.storeBit(true).storeRef(src.data); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadSendParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _code = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _data = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleSendParameters(source: SendParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserSendParameters(): DictionaryValue<SendParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSendParameters(src)).endCell());
        },
        parse: (src) => {
            return loadSendParameters(src.loadRef().beginParse());
        }
    }
}

export type MessageParameters = {
    $$type: 'MessageParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeMessageParameters(src: MessageParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadMessageParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleMessageParameters(source: MessageParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserMessageParameters(): DictionaryValue<MessageParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeMessageParameters(src)).endCell());
        },
        parse: (src) => {
            return loadMessageParameters(src.loadRef().beginParse());
        }
    }
}

export type DeployParameters = {
    $$type: 'DeployParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    bounce: boolean;
    init: StateInit;
}

export function storeDeployParameters(src: DeployParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeBit(src.bounce);
        b_0.store(storeStateInit(src.init));
    };
}

export function loadDeployParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _bounce = sc_0.loadBit();
    const _init = loadStateInit(sc_0);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadGetterTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadGetterTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function storeTupleDeployParameters(source: DeployParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeBoolean(source.bounce);
    builder.writeTuple(storeTupleStateInit(source.init));
    return builder.build();
}

export function dictValueParserDeployParameters(): DictionaryValue<DeployParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDeployParameters(src)).endCell());
        },
        parse: (src) => {
            return loadDeployParameters(src.loadRef().beginParse());
        }
    }
}

export type StdAddress = {
    $$type: 'StdAddress';
    workchain: bigint;
    address: bigint;
}

export function storeStdAddress(src: StdAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 8);
        b_0.storeUint(src.address, 256);
    };
}

export function loadStdAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(8);
    const _address = sc_0.loadUintBig(256);
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleStdAddress(source: StdAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeNumber(source.address);
    return builder.build();
}

export function dictValueParserStdAddress(): DictionaryValue<StdAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStdAddress(src)).endCell());
        },
        parse: (src) => {
            return loadStdAddress(src.loadRef().beginParse());
        }
    }
}

export type VarAddress = {
    $$type: 'VarAddress';
    workchain: bigint;
    address: Slice;
}

export function storeVarAddress(src: VarAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 32);
        b_0.storeRef(src.address.asCell());
    };
}

export function loadVarAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(32);
    const _address = sc_0.loadRef().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleVarAddress(source: VarAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeSlice(source.address.asCell());
    return builder.build();
}

export function dictValueParserVarAddress(): DictionaryValue<VarAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeVarAddress(src)).endCell());
        },
        parse: (src) => {
            return loadVarAddress(src.loadRef().beginParse());
        }
    }
}

export type BasechainAddress = {
    $$type: 'BasechainAddress';
    hash: bigint | null;
}

export function storeBasechainAddress(src: BasechainAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        if (src.hash !== null && src.hash !== undefined) { b_0.storeBit(true).storeInt(src.hash, 257); } else { b_0.storeBit(false); }
    };
}

export function loadBasechainAddress(slice: Slice) {
    const sc_0 = slice;
    const _hash = sc_0.loadBit() ? sc_0.loadIntBig(257) : null;
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadGetterTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function storeTupleBasechainAddress(source: BasechainAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.hash);
    return builder.build();
}

export function dictValueParserBasechainAddress(): DictionaryValue<BasechainAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeBasechainAddress(src)).endCell());
        },
        parse: (src) => {
            return loadBasechainAddress(src.loadRef().beginParse());
        }
    }
}

export type PostAnchor = {
    $$type: 'PostAnchor';
    seqno: bigint;
    root: bigint;
    firstSeq: bigint;
    count: bigint;
    ledgerSeqno: bigint;
    ledgerHash: bigint;
}

export function storePostAnchor(src: PostAnchor) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797197057, 32);
        b_0.storeUint(src.seqno, 32);
        b_0.storeUint(src.root, 256);
        b_0.storeUint(src.firstSeq, 64);
        b_0.storeUint(src.count, 32);
        b_0.storeUint(src.ledgerSeqno, 64);
        b_0.storeUint(src.ledgerHash, 256);
    };
}

export function loadPostAnchor(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797197057) { throw Error('Invalid prefix'); }
    const _seqno = sc_0.loadUintBig(32);
    const _root = sc_0.loadUintBig(256);
    const _firstSeq = sc_0.loadUintBig(64);
    const _count = sc_0.loadUintBig(32);
    const _ledgerSeqno = sc_0.loadUintBig(64);
    const _ledgerHash = sc_0.loadUintBig(256);
    return { $$type: 'PostAnchor' as const, seqno: _seqno, root: _root, firstSeq: _firstSeq, count: _count, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash };
}

export function loadTuplePostAnchor(source: TupleReader) {
    const _seqno = source.readBigNumber();
    const _root = source.readBigNumber();
    const _firstSeq = source.readBigNumber();
    const _count = source.readBigNumber();
    const _ledgerSeqno = source.readBigNumber();
    const _ledgerHash = source.readBigNumber();
    return { $$type: 'PostAnchor' as const, seqno: _seqno, root: _root, firstSeq: _firstSeq, count: _count, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash };
}

export function loadGetterTuplePostAnchor(source: TupleReader) {
    const _seqno = source.readBigNumber();
    const _root = source.readBigNumber();
    const _firstSeq = source.readBigNumber();
    const _count = source.readBigNumber();
    const _ledgerSeqno = source.readBigNumber();
    const _ledgerHash = source.readBigNumber();
    return { $$type: 'PostAnchor' as const, seqno: _seqno, root: _root, firstSeq: _firstSeq, count: _count, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash };
}

export function storeTuplePostAnchor(source: PostAnchor) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.seqno);
    builder.writeNumber(source.root);
    builder.writeNumber(source.firstSeq);
    builder.writeNumber(source.count);
    builder.writeNumber(source.ledgerSeqno);
    builder.writeNumber(source.ledgerHash);
    return builder.build();
}

export function dictValueParserPostAnchor(): DictionaryValue<PostAnchor> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storePostAnchor(src)).endCell());
        },
        parse: (src) => {
            return loadPostAnchor(src.loadRef().beginParse());
        }
    }
}

export type AnchorState = {
    $$type: 'AnchorState';
    seqno: bigint;
    root: bigint;
    firstSeq: bigint;
    count: bigint;
    lastSeq: bigint;
    ledgerSeqno: bigint;
    ledgerHash: bigint;
    history: bigint;
    postedAt: bigint;
}

export function storeAnchorState(src: AnchorState) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(src.seqno, 32);
        b_0.storeUint(src.root, 256);
        b_0.storeUint(src.firstSeq, 64);
        b_0.storeUint(src.count, 32);
        b_0.storeUint(src.lastSeq, 64);
        b_0.storeUint(src.ledgerSeqno, 64);
        b_0.storeUint(src.ledgerHash, 256);
        const b_1 = new Builder();
        b_1.storeUint(src.history, 256);
        b_1.storeUint(src.postedAt, 32);
        b_0.storeRef(b_1.endCell());
    };
}

export function loadAnchorState(slice: Slice) {
    const sc_0 = slice;
    const _seqno = sc_0.loadUintBig(32);
    const _root = sc_0.loadUintBig(256);
    const _firstSeq = sc_0.loadUintBig(64);
    const _count = sc_0.loadUintBig(32);
    const _lastSeq = sc_0.loadUintBig(64);
    const _ledgerSeqno = sc_0.loadUintBig(64);
    const _ledgerHash = sc_0.loadUintBig(256);
    const sc_1 = sc_0.loadRef().beginParse();
    const _history = sc_1.loadUintBig(256);
    const _postedAt = sc_1.loadUintBig(32);
    return { $$type: 'AnchorState' as const, seqno: _seqno, root: _root, firstSeq: _firstSeq, count: _count, lastSeq: _lastSeq, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash, history: _history, postedAt: _postedAt };
}

export function loadTupleAnchorState(source: TupleReader) {
    const _seqno = source.readBigNumber();
    const _root = source.readBigNumber();
    const _firstSeq = source.readBigNumber();
    const _count = source.readBigNumber();
    const _lastSeq = source.readBigNumber();
    const _ledgerSeqno = source.readBigNumber();
    const _ledgerHash = source.readBigNumber();
    const _history = source.readBigNumber();
    const _postedAt = source.readBigNumber();
    return { $$type: 'AnchorState' as const, seqno: _seqno, root: _root, firstSeq: _firstSeq, count: _count, lastSeq: _lastSeq, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash, history: _history, postedAt: _postedAt };
}

export function loadGetterTupleAnchorState(source: TupleReader) {
    const _seqno = source.readBigNumber();
    const _root = source.readBigNumber();
    const _firstSeq = source.readBigNumber();
    const _count = source.readBigNumber();
    const _lastSeq = source.readBigNumber();
    const _ledgerSeqno = source.readBigNumber();
    const _ledgerHash = source.readBigNumber();
    const _history = source.readBigNumber();
    const _postedAt = source.readBigNumber();
    return { $$type: 'AnchorState' as const, seqno: _seqno, root: _root, firstSeq: _firstSeq, count: _count, lastSeq: _lastSeq, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash, history: _history, postedAt: _postedAt };
}

export function storeTupleAnchorState(source: AnchorState) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.seqno);
    builder.writeNumber(source.root);
    builder.writeNumber(source.firstSeq);
    builder.writeNumber(source.count);
    builder.writeNumber(source.lastSeq);
    builder.writeNumber(source.ledgerSeqno);
    builder.writeNumber(source.ledgerHash);
    builder.writeNumber(source.history);
    builder.writeNumber(source.postedAt);
    return builder.build();
}

export function dictValueParserAnchorState(): DictionaryValue<AnchorState> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeAnchorState(src)).endCell());
        },
        parse: (src) => {
            return loadAnchorState(src.loadRef().beginParse());
        }
    }
}

export type ReceiptAnchor$Data = {
    $$type: 'ReceiptAnchor$Data';
    coordinator: Address;
    nonce: bigint;
    seqno: bigint;
    lastSeq: bigint;
    ledgerSeqno: bigint;
    ledgerHash: bigint;
    history: bigint;
    root: bigint;
    count: bigint;
    postedAt: bigint;
}

export function storeReceiptAnchor$Data(src: ReceiptAnchor$Data) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.coordinator);
        b_0.storeUint(src.nonce, 32);
        b_0.storeUint(src.seqno, 32);
        b_0.storeUint(src.lastSeq, 64);
        b_0.storeUint(src.ledgerSeqno, 64);
        b_0.storeUint(src.ledgerHash, 256);
        b_0.storeUint(src.history, 256);
        const b_1 = new Builder();
        b_1.storeUint(src.root, 256);
        b_1.storeUint(src.count, 32);
        b_1.storeUint(src.postedAt, 32);
        b_0.storeRef(b_1.endCell());
    };
}

export function loadReceiptAnchor$Data(slice: Slice) {
    const sc_0 = slice;
    const _coordinator = sc_0.loadAddress();
    const _nonce = sc_0.loadUintBig(32);
    const _seqno = sc_0.loadUintBig(32);
    const _lastSeq = sc_0.loadUintBig(64);
    const _ledgerSeqno = sc_0.loadUintBig(64);
    const _ledgerHash = sc_0.loadUintBig(256);
    const _history = sc_0.loadUintBig(256);
    const sc_1 = sc_0.loadRef().beginParse();
    const _root = sc_1.loadUintBig(256);
    const _count = sc_1.loadUintBig(32);
    const _postedAt = sc_1.loadUintBig(32);
    return { $$type: 'ReceiptAnchor$Data' as const, coordinator: _coordinator, nonce: _nonce, seqno: _seqno, lastSeq: _lastSeq, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash, history: _history, root: _root, count: _count, postedAt: _postedAt };
}

export function loadTupleReceiptAnchor$Data(source: TupleReader) {
    const _coordinator = source.readAddress();
    const _nonce = source.readBigNumber();
    const _seqno = source.readBigNumber();
    const _lastSeq = source.readBigNumber();
    const _ledgerSeqno = source.readBigNumber();
    const _ledgerHash = source.readBigNumber();
    const _history = source.readBigNumber();
    const _root = source.readBigNumber();
    const _count = source.readBigNumber();
    const _postedAt = source.readBigNumber();
    return { $$type: 'ReceiptAnchor$Data' as const, coordinator: _coordinator, nonce: _nonce, seqno: _seqno, lastSeq: _lastSeq, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash, history: _history, root: _root, count: _count, postedAt: _postedAt };
}

export function loadGetterTupleReceiptAnchor$Data(source: TupleReader) {
    const _coordinator = source.readAddress();
    const _nonce = source.readBigNumber();
    const _seqno = source.readBigNumber();
    const _lastSeq = source.readBigNumber();
    const _ledgerSeqno = source.readBigNumber();
    const _ledgerHash = source.readBigNumber();
    const _history = source.readBigNumber();
    const _root = source.readBigNumber();
    const _count = source.readBigNumber();
    const _postedAt = source.readBigNumber();
    return { $$type: 'ReceiptAnchor$Data' as const, coordinator: _coordinator, nonce: _nonce, seqno: _seqno, lastSeq: _lastSeq, ledgerSeqno: _ledgerSeqno, ledgerHash: _ledgerHash, history: _history, root: _root, count: _count, postedAt: _postedAt };
}

export function storeTupleReceiptAnchor$Data(source: ReceiptAnchor$Data) {
    const builder = new TupleBuilder();
    builder.writeAddress(source.coordinator);
    builder.writeNumber(source.nonce);
    builder.writeNumber(source.seqno);
    builder.writeNumber(source.lastSeq);
    builder.writeNumber(source.ledgerSeqno);
    builder.writeNumber(source.ledgerHash);
    builder.writeNumber(source.history);
    builder.writeNumber(source.root);
    builder.writeNumber(source.count);
    builder.writeNumber(source.postedAt);
    return builder.build();
}

export function dictValueParserReceiptAnchor$Data(): DictionaryValue<ReceiptAnchor$Data> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeReceiptAnchor$Data(src)).endCell());
        },
        parse: (src) => {
            return loadReceiptAnchor$Data(src.loadRef().beginParse());
        }
    }
}

 type ReceiptAnchor_init_args = {
    $$type: 'ReceiptAnchor_init_args';
    coordinator: Address;
    nonce: bigint;
}

function initReceiptAnchor_init_args(src: ReceiptAnchor_init_args) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.coordinator);
        b_0.storeInt(src.nonce, 257);
    };
}

async function ReceiptAnchor_init(coordinator: Address, nonce: bigint) {
    const __code = Cell.fromHex('b5ee9c7241020a01000228000228ff008e88f4a413f4bcf2c80bed5320e303ed43d90106020378a002040199b8915ed44d0d200018e28fa40d31fd31fd33fd33fd3ffd3ffd401d0d3ffd31fd31f30103a1039103810371036103510346c1a8e13fa40810101d7005902d1017054700054700020e2db3c6ca18030002290199bbc70ed44d0d200018e28fa40d31fd31fd33fd33fd3ffd3ffd401d0d3ffd31fd31f30103a1039103810371036103510346c1a8e13fa40810101d7005902d1017054700054700020e2db3c6ca9805001a26a422a1546840547498547a9602f83001d072d721d200d200fa4021103450666f04f86102f862ed44d0d200018e28fa40d31fd31fd33fd33fd3ffd3ffd401d0d3ffd31fd31f30103a1039103810371036103510346c1a8e13fa40810101d7005902d1017054700054700020e20b925f0be0702ad74920c21f95310ad31f0bde2182106b1f0d01bae3023b070901e05f043806d31fd3ffd33fd31fd33fd3ff30f8422bc705f2e44df80008a45250baf2e44e06a45220baf2e44f5354bef2e4505255bd92387f935259bae2f2e451c819cbff5210cb1f5280cbff5270cb3f5220cb1f5230cb3f5240cbffc9d071f904005172a0a5f82310791068476010451308004ec87f01ca005590509ace17cb1f15cb1f13cb3fcb3fcbffcbff01c8cbff12cb1f12cb1fcdc9ed540074c0000ac1211ab08e2b10795516c87f01ca005590509ace17cb1f15cb1f13cb3fcb3fcbffcbff01c8cbff12cb1f12cb1fcdc9ed54e05f0af2c082968b19c3');
    const builder = beginCell();
    builder.storeUint(0, 1);
    initReceiptAnchor_init_args({ $$type: 'ReceiptAnchor_init_args', coordinator, nonce })(builder);
    const __data = builder.endCell();
    return { code: __code, data: __data };
}

export const ReceiptAnchor_errors = {
    2: { message: "Stack underflow" },
    3: { message: "Stack overflow" },
    4: { message: "Integer overflow" },
    5: { message: "Integer out of expected range" },
    6: { message: "Invalid opcode" },
    7: { message: "Type check error" },
    8: { message: "Cell overflow" },
    9: { message: "Cell underflow" },
    10: { message: "Dictionary error" },
    11: { message: "'Unknown' error" },
    12: { message: "Fatal error" },
    13: { message: "Out of gas error" },
    14: { message: "Virtualization error" },
    32: { message: "Action list is invalid" },
    33: { message: "Action list is too long" },
    34: { message: "Action is invalid or not supported" },
    35: { message: "Invalid source address in outbound message" },
    36: { message: "Invalid destination address in outbound message" },
    37: { message: "Not enough Toncoin" },
    38: { message: "Not enough extra currencies" },
    39: { message: "Outbound message does not fit into a cell after rewriting" },
    40: { message: "Cannot process a message" },
    41: { message: "Library reference is null" },
    42: { message: "Library change action error" },
    43: { message: "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree" },
    50: { message: "Account state size exceeded limits" },
    128: { message: "Null reference exception" },
    129: { message: "Invalid serialization prefix" },
    130: { message: "Invalid incoming message" },
    131: { message: "Constraints error" },
    132: { message: "Access denied" },
    133: { message: "Contract stopped" },
    134: { message: "Invalid argument" },
    135: { message: "Code of a contract was not found" },
    136: { message: "Invalid standard address" },
    138: { message: "Not a basechain address" },
} as const

export const ReceiptAnchor_errors_backward = {
    "Stack underflow": 2,
    "Stack overflow": 3,
    "Integer overflow": 4,
    "Integer out of expected range": 5,
    "Invalid opcode": 6,
    "Type check error": 7,
    "Cell overflow": 8,
    "Cell underflow": 9,
    "Dictionary error": 10,
    "'Unknown' error": 11,
    "Fatal error": 12,
    "Out of gas error": 13,
    "Virtualization error": 14,
    "Action list is invalid": 32,
    "Action list is too long": 33,
    "Action is invalid or not supported": 34,
    "Invalid source address in outbound message": 35,
    "Invalid destination address in outbound message": 36,
    "Not enough Toncoin": 37,
    "Not enough extra currencies": 38,
    "Outbound message does not fit into a cell after rewriting": 39,
    "Cannot process a message": 40,
    "Library reference is null": 41,
    "Library change action error": 42,
    "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree": 43,
    "Account state size exceeded limits": 50,
    "Null reference exception": 128,
    "Invalid serialization prefix": 129,
    "Invalid incoming message": 130,
    "Constraints error": 131,
    "Access denied": 132,
    "Contract stopped": 133,
    "Invalid argument": 134,
    "Code of a contract was not found": 135,
    "Invalid standard address": 136,
    "Not a basechain address": 138,
} as const

const ReceiptAnchor_types: ABIType[] = [
    {"name":"DataSize","header":null,"fields":[{"name":"cells","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bits","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"refs","type":{"kind":"simple","type":"int","optional":false,"format":257}}]},
    {"name":"SignedBundle","header":null,"fields":[{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}},{"name":"signedData","type":{"kind":"simple","type":"slice","optional":false,"format":"remainder"}}]},
    {"name":"StateInit","header":null,"fields":[{"name":"code","type":{"kind":"simple","type":"cell","optional":false}},{"name":"data","type":{"kind":"simple","type":"cell","optional":false}}]},
    {"name":"Context","header":null,"fields":[{"name":"bounceable","type":{"kind":"simple","type":"bool","optional":false}},{"name":"sender","type":{"kind":"simple","type":"address","optional":false}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"raw","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"SendParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"code","type":{"kind":"simple","type":"cell","optional":true}},{"name":"data","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"MessageParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"DeployParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}},{"name":"init","type":{"kind":"simple","type":"StateInit","optional":false}}]},
    {"name":"StdAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":8}},{"name":"address","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"VarAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":32}},{"name":"address","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"BasechainAddress","header":null,"fields":[{"name":"hash","type":{"kind":"simple","type":"int","optional":true,"format":257}}]},
    {"name":"PostAnchor","header":1797197057,"fields":[{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"root","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"firstSeq","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"count","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"ledgerSeqno","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"ledgerHash","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"AnchorState","header":null,"fields":[{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"root","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"firstSeq","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"count","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"lastSeq","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"ledgerSeqno","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"ledgerHash","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"history","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"postedAt","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"ReceiptAnchor$Data","header":null,"fields":[{"name":"coordinator","type":{"kind":"simple","type":"address","optional":false}},{"name":"nonce","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"lastSeq","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"ledgerSeqno","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"ledgerHash","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"history","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"root","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"count","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"postedAt","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
]

const ReceiptAnchor_opcodes = {
    "PostAnchor": 1797197057,
}

const ReceiptAnchor_getters: ABIGetter[] = [
    {"name":"latest","methodId":97392,"arguments":[],"returnType":{"kind":"simple","type":"AnchorState","optional":false}},
    {"name":"coordinator","methodId":67861,"arguments":[],"returnType":{"kind":"simple","type":"address","optional":false}},
]

export const ReceiptAnchor_getterMapping: { [key: string]: string } = {
    'latest': 'getLatest',
    'coordinator': 'getCoordinator',
}

const ReceiptAnchor_receivers: ABIReceiver[] = [
    {"receiver":"internal","message":{"kind":"typed","type":"PostAnchor"}},
    {"receiver":"internal","message":{"kind":"empty"}},
]

export const ERR_NOT_COORDINATOR = 1101n;
export const ERR_ANCHOR_SEQNO = 1102n;
export const ERR_ANCHOR_RANGE = 1103n;
export const ERR_LEDGER_REWOUND = 1104n;
export const ERR_LEDGER_FORK = 1105n;

export class ReceiptAnchor implements Contract {
    
    public static readonly storageReserve = 0n;
    public static readonly errors = ReceiptAnchor_errors_backward;
    public static readonly opcodes = ReceiptAnchor_opcodes;
    
    static async init(coordinator: Address, nonce: bigint) {
        return await ReceiptAnchor_init(coordinator, nonce);
    }
    
    static async fromInit(coordinator: Address, nonce: bigint) {
        const __gen_init = await ReceiptAnchor_init(coordinator, nonce);
        const address = contractAddress(0, __gen_init);
        return new ReceiptAnchor(address, __gen_init);
    }
    
    static fromAddress(address: Address) {
        return new ReceiptAnchor(address);
    }
    
    readonly address: Address; 
    readonly init?: { code: Cell, data: Cell };
    readonly abi: ContractABI = {
        types:  ReceiptAnchor_types,
        getters: ReceiptAnchor_getters,
        receivers: ReceiptAnchor_receivers,
        errors: ReceiptAnchor_errors,
    };
    
    constructor(address: Address, init?: { code: Cell, data: Cell }) {
        this.address = address;
        this.init = init;
    }
    
    async send(provider: ContractProvider, via: Sender, args: { value: bigint, bounce?: boolean| null | undefined }, message: PostAnchor | null) {
        
        let body: Cell | null = null;
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'PostAnchor') {
            body = beginCell().store(storePostAnchor(message)).endCell();
        }
        if (message === null) {
            body = new Cell();
        }
        if (body === null) { throw new Error('Invalid message type'); }
        
        await provider.internal(via, { ...args, body: body });
        
    }
    
    async getLatest(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('latest', builder.build())).stack;
        const result = loadGetterTupleAnchorState(source);
        return result;
    }
    
    async getCoordinator(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('coordinator', builder.build())).stack;
        const result = source.readAddress();
        return result;
    }
    
}